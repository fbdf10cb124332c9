"""FakeExchange follows Binance's documented spot rules, seen through the real ccxt.pro client:
client ids, the trade list's paging, symbol filters, time in force and post-only."""

from __future__ import annotations

import asyncio
import time

import ccxt
import pytest

from backtrader_channels.testing.exchange import FakeExchange, SpotFilters

from .conftest import PERPETUAL, SYMBOL, prints, with_client

HOUR_MS = 3_600_000


def test_a_client_id_is_refused_while_its_order_is_open_and_taken_again_once_it_is_closed(exchange):
    async def body(client):
        await prints(exchange, SYMBOL, [(50_000.0, 1.0)])
        first = await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_000.0, {"clientOrderId": "reuse-1"})
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
            await client.create_order(SYMBOL, "limit", "buy", 0.1, 48_000.0, {"clientOrderId": "reuse-1"})
        await client.cancel_order(None, SYMBOL, {"clientOrderId": "reuse-1"})
        second = await client.create_order(SYMBOL, "limit", "buy", 0.2, 48_000.0, {"clientOrderId": "reuse-1"})
        found = await client.fetch_order(None, SYMBOL, {"clientOrderId": "reuse-1"})  # the most recent
        await client.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": "reuse-2"})
        await prints(exchange, SYMBOL, [(50_010.0, 1.0)])
        await client.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": "reuse-2"})  # filled: free
        return first, second, found

    first, second, found = with_client(exchange, body)
    assert found["id"] == second["id"] != first["id"]
    assert (found["price"], found["amount"], found["status"]) == (48_000.0, 0.2, "open")
    orders, trades = exchange.ledger()
    assert [(o["clientOrderId"], o["status"]) for o in orders] == [
        ("reuse-1", "CANCELED"), ("reuse-1", "NEW"), ("reuse-2", "FILLED"), ("reuse-2", "NEW")]
    assert [(t["price"], t["qty"]) for t in trades] == [("50010.00000000", "0.10000000")]
    assert exchange.refused == [("/api/v3/order", -2010, "Duplicate order sent.")]


def test_600_fills_made_while_the_user_stream_is_silent_are_all_kept_and_page_by_binances_rules():
    with FakeExchange([SYMBOL], balances={"USDT": 400_000.0}) as exchange:
        async def body(client):
            await prints(exchange, SYMBOL, [(50_000.0, 1.0)])
            watch = asyncio.ensure_future(client.watch_orders(SYMBOL))
            await asyncio.to_thread(exchange.wait_user_connections, 1)
            exchange.set_user_stream("silent")
            order = await client.create_order(SYMBOL, "limit", "buy", 6.0, 50_000.0)
            since = client.milliseconds() - HOUR_MS
            await prints(exchange, SYMBOL, [(49_990.0, 0.01)] * 600)  # takes the first, then fills at its limit
            await asyncio.sleep(0.3)
            told = watch.done()
            watch.cancel()
            pages = {
                "default": await client.fetch_my_trades(SYMBOL),
                "limit 1000": await client.fetch_my_trades(SYMBOL, None, 1000),
                "from 1": await client.fetch_my_trades(SYMBOL, None, None, {"fromId": 1}),
                "from 501": await client.fetch_my_trades(SYMBOL, None, None, {"fromId": 501}),
                "since": await client.fetch_my_trades(SYMBOL, since),
                "order": await client.fetch_my_trades(SYMBOL, None, 1000, {"orderId": order["id"]}),
            }
            with pytest.raises(ccxt.BadRequest, match="Data sent for parameter 'limit' is not valid"):
                await client.fetch_my_trades(SYMBOL, None, 1001)
            with pytest.raises(ccxt.BadRequest, match="More than 24 hours between startTime and endTime"):
                await client.fetch_my_trades(SYMBOL, since, None, {"until": since + 25 * HOUR_MS})
            return told, pages

        told, pages = with_client(exchange, body)
        assert not told  # the NEW and the 600 fills were never reported
        assert exchange.lost_reports == 601
        ids = {name: sorted(int(trade["id"]) for trade in page) for name, page in pages.items()}  # ccxt sorts by id text
        assert ids["default"] == list(range(101, 601))  # the most recent 500, oldest first
        assert ids["limit 1000"] == ids["order"] == list(range(1, 601))
        assert ids["from 1"] == list(range(1, 501)) and ids["from 501"] == list(range(501, 601))  # short: the end
        assert ids["since"] == list(range(1, 501))  # the first 500 of the window
        orders, trades = exchange.ledger()
        assert len(trades) == 600 and orders[0]["status"] == "FILLED" and orders[0]["executedQty"] == "6.00000000"
        assert exchange.balances["BTC"] == pytest.approx(6.0)
        cost = 0.01 * 49_990 + 5.99 * 50_000  # 299 999.9
        assert exchange.balances["USDT"] == pytest.approx(400_000 - cost * 1.001)  # 0.1% fee


def test_the_user_futures_trade_list_refuses_a_window_over_7_days():
    with FakeExchange([], perpetuals=[PERPETUAL]) as exchange:
        async def body(client):
            since = client.milliseconds() - 10 * 24 * HOUR_MS
            week = await client.fetch_my_trades(PERPETUAL, since, None, {"until": since + 7 * 24 * HOUR_MS})
            with pytest.raises(ccxt.BadRequest, match="More than 168 hours between startTime and endTime"):
                await client.fetch_my_trades(PERPETUAL, since, None, {"until": since + 8 * 24 * HOUR_MS})
            return week

        assert with_client(exchange, body) == []


def test_the_filters_are_served_and_each_failure_refused_in_binances_words():
    filters = SpotFilters(tick_size=0.5, min_price=1_000.0, step_size=0.001, min_qty=0.002, min_notional=100.0,
                          max_num_orders=2)
    with FakeExchange([SYMBOL], filters=filters) as exchange:
        async def body(client):
            market = client.market(SYMBOL)
            served = (market["precision"]["price"], market["precision"]["amount"], market["limits"]["price"]["min"],
                      market["limits"]["amount"]["min"], market["limits"]["cost"]["min"])
            attempts = [
                client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                           "quantity": "0.010", "price": "49000.3"}),  # off the 0.5 tick
                client.create_order(SYMBOL, "limit", "buy", 0.01, 500.0),  # under minPrice
                client.create_order(SYMBOL, "limit", "buy", 0.0015, 49_000.0),  # off the 0.001 step
                client.create_order(SYMBOL, "limit", "buy", 0.001, 49_000.0),  # under minQty
                client.create_order(SYMBOL, "limit", "buy", 0.002, 49_000.0),  # 98 USDT < 100
            ]
            for attempt in attempts:
                with pytest.raises(ccxt.BaseError):
                    await attempt
            first = await client.create_order(SYMBOL, "limit", "buy", 0.003, 49_000.0)  # 147 USDT
            await client.create_order(SYMBOL, "limit", "buy", 0.003, 48_000.0)
            with pytest.raises(ccxt.InvalidOrder, match="MAX_NUM_ORDERS"):
                await client.create_order(SYMBOL, "limit", "buy", 0.003, 47_000.0)  # a third open order
            await client.cancel_order(first["id"], SYMBOL)
            await client.create_order(SYMBOL, "limit", "buy", 0.003, 47_000.0)  # two open again
            return served

        assert with_client(exchange, body) == (0.5, 0.001, 1_000.0, 0.002, 100.0)
        assert [(code, msg) for _, code, msg in exchange.refused] == [
            (-1013, "Filter failure: PRICE_FILTER"), (-1013, "Filter failure: PRICE_FILTER"),
            (-1013, "Filter failure: LOT_SIZE"), (-1013, "Filter failure: LOT_SIZE"),
            (-1013, "Filter failure: NOTIONAL"), (-2010, "Filter failure: MAX_NUM_ORDERS")]
        assert [o["price"] for o in exchange.open_orders()] == ["48000.00000000", "47000.00000000"]


def test_ioc_fills_what_its_first_print_gives_and_expires_the_rest(exchange):
    async def body(client):
        await prints(exchange, SYMBOL, [(50_000.0, 1.0)])
        taking = await client.create_order(SYMBOL, "limit", "buy", 1.0, 50_000.0, {"timeInForce": "IOC"})
        await prints(exchange, SYMBOL, [(49_990.0, 0.3), (49_980.0, 5.0)])
        resting = await client.create_order(SYMBOL, "limit", "buy", 1.0, 49_000.0, {"timeInForce": "IOC"})
        await prints(exchange, SYMBOL, [(48_000.0, 5.0)])  # through its limit, but it did not take on arrival
        return [await client.fetch_order(order["id"], SYMBOL) for order in (taking, resting)]

    taking, resting = with_client(exchange, body)
    assert (taking["status"], taking["filled"], taking["average"]) == ("expired", 0.3, 49_990.0)
    assert (resting["status"], resting["filled"]) == ("expired", 0.0)
    assert [(r["i"], r["x"], r["X"], r["l"], r["z"]) for r in exchange.user_reports] == [  # the executionReports
        (1, "NEW", "NEW", "0.00000000", "0.00000000"),
        (1, "TRADE", "PARTIALLY_FILLED", "0.30000000", "0.30000000"),
        (1, "EXPIRED", "EXPIRED", "0.00000000", "0.30000000"),
        (2, "NEW", "NEW", "0.00000000", "0.00000000"),
        (2, "EXPIRED", "EXPIRED", "0.00000000", "0.00000000")]
    assert exchange.balances["USDT"] == pytest.approx(1_000_000 - 0.3 * 49_990 * 1.001)  # the rest released
    assert exchange.locked["USDT"] == pytest.approx(0.0)


def test_fok_fills_whole_on_its_first_print_or_expires_with_nothing(exchange):
    async def body(client):
        await prints(exchange, SYMBOL, [(50_000.0, 1.0)])
        short = await client.create_order(SYMBOL, "limit", "buy", 1.0, 50_000.0, {"timeInForce": "FOK"})
        await prints(exchange, SYMBOL, [(49_990.0, 0.5), (49_990.0, 5.0)])  # the first print alone is too small
        whole = await client.create_order(SYMBOL, "limit", "buy", 1.0, 50_000.0, {"timeInForce": "FOK"})
        await prints(exchange, SYMBOL, [(49_995.0, 2.0)])
        return [await client.fetch_order(order["id"], SYMBOL) for order in (short, whole)]

    short, whole = with_client(exchange, body)
    assert (short["status"], short["filled"]) == ("expired", 0.0)
    assert (whole["status"], whole["filled"], whole["average"]) == ("closed", 1.0, 49_995.0)
    _, trades = exchange.ledger()
    assert [(t["price"], t["qty"], t["isMaker"]) for t in trades] == [("49995.00000000", "1.00000000", False)]


def test_limit_maker_is_refused_when_it_would_take_and_otherwise_fills_only_as_maker(exchange):
    async def body(client):
        await prints(exchange, SYMBOL, [(50_000.0, 1.0)])
        with pytest.raises(ccxt.OrderImmediatelyFillable, match="Order would immediately match and take"):
            await client.create_order(SYMBOL, "limit", "buy", 0.1, 50_000.0, {"postOnly": True})
        resting = await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_900.0, {"postOnly": True})
        await prints(exchange, SYMBOL, [(49_950.0, 1.0), (49_900.0, 1.0), (49_899.5, 1.0)])
        with pytest.raises(ccxt.BadRequest, match="Invalid timeInForce"):
            await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_000.0, {"timeInForce": "GTD"})
        return await client.fetch_order(resting["id"], SYMBOL), await client.fetch_my_trades(SYMBOL)

    resting, trades = with_client(exchange, body)
    assert (resting["type"], resting["postOnly"], resting["status"]) == ("limit", True, "closed")
    assert [(t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [(49_900.0, 0.1, "maker")]
    assert [code for _, code, _ in exchange.refused] == [-2010, -1115]


def test_usdm_post_only_gtx_is_refused_when_it_would_take_and_otherwise_fills_as_maker():
    with FakeExchange([], perpetuals=[PERPETUAL], futures_wallet={"USDT": 10_000.0}) as exchange:
        async def body(client):
            await prints(exchange, PERPETUAL, [(50_000.0, 1.0)])
            with pytest.raises(ccxt.OrderNotFillable, match="could not be executed as maker"):
                await client.create_order(PERPETUAL, "limit", "buy", 0.01, 50_000.0, {"postOnly": True})
            resting = await client.create_order(PERPETUAL, "limit", "buy", 0.01, 49_900.0, {"postOnly": True})
            await prints(exchange, PERPETUAL, [(49_950.0, 1.0), (49_899.9, 1.0)])
            return await client.fetch_order(resting["id"], PERPETUAL)

        resting = with_client(exchange, body)
        assert (resting["status"], resting["filled"], resting["average"]) == ("closed", 0.01, 49_900.0)
        orders, trades = exchange.ledger()
        assert [o["timeInForce"] for o in orders] == ["GTX"]  # the refused one is not recorded
        assert [(t["price"], t["maker"]) for t in trades] == [("49900.00000000", True)]
        assert exchange.futures.wallet["USDT"] == pytest.approx(10_000 - 0.01 * 49_900 * 0.0004)


def test_a_server_clock_off_by_more_than_the_recv_window_refuses_an_unsynced_client_with_1021(exchange):
    exchange.clock_skew_ms = 30_000  # ccxt's recvWindow is 10 s

    async def unsynced(client):
        server_time = await client.fetch_time()
        with pytest.raises(ccxt.BaseError, match="Timestamp for this request is outside of the recvWindow"):
            await client.create_order(SYMBOL, "market", "buy", 0.1)
        return server_time - time.time() * 1000

    async def synced(client):
        return await client.create_order(SYMBOL, "market", "buy", 0.1)

    assert with_client(exchange, unsynced) == pytest.approx(30_000, abs=2_000)
    with_client(exchange, synced, options={"adjustForTimeDifference": True})  # ccxt reads GET /api/v3/time
    orders, _ = exchange.ledger()
    assert len(orders) == 1 and [code for _, code, _ in exchange.refused] == [-1021]

    exchange.clock_skew_ms = -3_000  # the server behind: the client's timestamps are ahead of it

    async def ahead(client):
        with pytest.raises(ccxt.BaseError, match="1000ms ahead of the server's time"):
            await client.create_order(SYMBOL, "market", "buy", 0.1)

    with_client(exchange, ahead)
