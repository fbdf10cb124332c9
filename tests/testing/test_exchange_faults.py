"""FakeExchange's faults as real outages stack them, each seen through the real ccxt.pro client."""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from .conftest import SYMBOL, prints, with_client

KEEP_ALIVE = {"streaming": {"keepAlive": 300}}  # ccxt pings every 0.3 s; two missed pongs fail the socket


def test_timeout_before_accept_holds_the_request_and_never_places_the_order(exchange):
    exchange.fail_next("timeout_before_accept")
    exchange.stall_seconds = 1.5  # the client gives up after 1 s

    async def body(client):
        with pytest.raises(ccxt.RequestTimeout):
            await client.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": "lost-1"})
        with pytest.raises(ccxt.OrderNotFound):
            await client.fetch_order(None, SYMBOL, {"clientOrderId": "lost-1"})

    with_client(exchange, body)
    assert exchange.ledger() == ([], []) and exchange.order_requests == 1
    assert exchange.held == [("POST", "/api/v3/order")]


def test_timeout_after_accept_places_the_order_the_client_never_hears_of(exchange):
    exchange.fail_next("timeout_after_accept")
    exchange.stall_seconds = 1.5

    async def body(client):
        with pytest.raises(ccxt.RequestTimeout):
            await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_000.0, {"clientOrderId": "kept-1"})
        return await client.fetch_order(None, SYMBOL, {"clientOrderId": "kept-1"})

    found = with_client(exchange, body)
    assert (found["status"], found["price"], found["amount"]) == ("open", 49_000.0, 0.1)
    assert [o["clientOrderId"] for o in exchange.open_orders()] == ["kept-1"]


def test_stalled_requests_time_out_at_the_client_and_are_still_processed(exchange):
    exchange.stall_seconds = 1.5

    async def body(client):
        order = await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_000.0)
        exchange.stall_requests("DELETE", "/api/v3/order")
        exchange.stall_requests("GET", "/api/v3/openOrders", times=2)
        with pytest.raises(ccxt.RequestTimeout):
            await client.cancel_order(order["id"], SYMBOL)  # held, but it cancels
        for _ in range(2):
            with pytest.raises(ccxt.RequestTimeout):
                await client.fetch_open_orders(SYMBOL)
        return await client.fetch_open_orders(SYMBOL), await client.fetch_order(order["id"], SYMBOL)

    still_open, cancelled = with_client(exchange, body)
    assert still_open == [] and cancelled["status"] == "canceled"
    assert exchange.held == [("DELETE", "/api/v3/order"), ("GET", "/api/v3/openOrders"), ("GET", "/api/v3/openOrders")]
    assert exchange.balances["USDT"] == pytest.approx(1_000_000.0)  # the cancel released the reserve


def test_a_stalled_trade_list_times_out_once_then_answers(exchange):
    exchange.stall_seconds = 1.5

    async def body(client):
        await prints(exchange, SYMBOL, [(50_000.0, 1.0)])
        await client.create_order(SYMBOL, "market", "buy", 0.1)
        await prints(exchange, SYMBOL, [(50_010.0, 1.0)])
        exchange.stall_requests("GET", "/api/v3/myTrades")
        with pytest.raises(ccxt.RequestTimeout):
            await client.fetch_my_trades(SYMBOL)
        return await client.fetch_my_trades(SYMBOL)

    assert [(t["price"], t["amount"]) for t in with_client(exchange, body)] == [(50_010.0, 0.1)]


def test_a_silent_user_stream_keeps_its_socket_and_loses_the_reports_made_meanwhile(exchange):
    async def body(client):
        first = asyncio.ensure_future(client.watch_orders(SYMBOL))
        await asyncio.to_thread(exchange.wait_user_connections, 1)
        exchange.set_user_stream("silent")
        order = await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_000.0)
        await asyncio.sleep(1.5)  # five pings, all answered: the socket stays up
        told_while_silent = first.done()
        exchange.set_user_stream("live")
        await client.cancel_order(order["id"], SYMBOL)
        return order, told_while_silent, await asyncio.wait_for(first, 5)

    order, told_while_silent, seen = with_client(exchange, body, **KEEP_ALIVE)
    assert not told_while_silent
    assert [(o["id"], o["status"]) for o in seen] == [(order["id"], "canceled")]  # the NEW never came
    assert exchange.lost_reports == 1
    assert [(r["x"], r["X"]) for r in exchange.user_reports] == [("CANCELED", "CANCELED")]


def test_a_frozen_user_stream_is_a_dead_peer_the_client_times_out_on(exchange):
    async def body(client):
        first = asyncio.ensure_future(client.watch_orders(SYMBOL))
        await asyncio.to_thread(exchange.wait_user_connections, 1)
        exchange.set_user_stream("frozen")
        await client.create_order(SYMBOL, "limit", "buy", 0.1, 49_000.0)  # REST still answers
        with pytest.raises(ccxt.RequestTimeout, match="ping-pong keepalive missing"):
            await asyncio.wait_for(first, 5)
        exchange.set_user_stream("live")

    with_client(exchange, body, **KEEP_ALIVE)
    assert exchange.lost_reports == 1 and exchange.user_reports == []
    assert len(exchange.open_orders()) == 1
