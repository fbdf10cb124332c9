"""USD-M futures through the real ccxt client to FakeExchange's perpetual: shorts, leverage,
margin, realized profit and fees as the exchange books them, reduce-only closes, restarts
with an open position, the kill switch and a dropped user stream. Fees are the fake's
0.04% of the traded value; every money figure is worked out by hand."""

from __future__ import annotations

import logging
import threading

import backtrader as bt
import pytest

from backtrader_channels.broker.ccxt_broker import CCXTBroker
from backtrader_channels.feeds import CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing.exchange import FakeExchange

from .conftest import PERPETUAL, SYMBOL, Recorder, broker_config, live_run, saw, trades_then
from .test_faults import BuyOnFirstTick
from .test_orders import BuyLimitOnFirstTick, CancelAfterPartial

FEE = 0.0004


def steps(exchange, *steps):
    return trades_then(exchange, PERPETUAL, *steps)


@pytest.fixture
def exchange():
    with FakeExchange([], perpetuals=[PERPETUAL]) as server:
        yield server


def run(exchange, strategy, script, **options):
    return live_run(exchange, strategy, script, symbol=PERPETUAL, **{"leverage": 5, **options})


class ShortThenCover(Recorder):
    """Sells 0.1 at market on the first tick; closes on the third (the script sends it once short)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_trades: list[tuple[float, float]] = []
        self.value_while_short = 0.0

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.sell(size=0.1))
        elif self.ticks == 3 and self.position.size < 0:
            self.value_while_short = self.broker.getvalue()
            self.close()

    def notify_trade(self, trade) -> None:
        if trade.isclosed:
            self.closed_trades.append((trade.pnl, trade.pnlcomm))


@pytest.mark.parametrize("exchange_id", ["binance", "binanceusdm"])
def test_a_short_covered_by_close_realizes_the_profit_the_exchange_reports(exchange, exchange_id):
    exchange.script_trades(PERPETUAL, [(50_000.0, 1.0), (50_010.0, 1.0), (49_500.0, 1.0), (49_010.0, 1.0)])

    script = steps(exchange, (1, "the short accepted", saw("Accepted")), (1, "the short filled", saw("Completed")),
                   (1, "the close accepted", saw("Accepted", 2)),  # the strategy closes on the third tick
                   (1, "the close filled", saw("Completed", 2)))
    strategy, broker, cerebro = run(exchange, ShortThenCover, script, exchange_id=exchange_id)
    orders, trades = exchange.ledger()
    assert [(o["side"], o["type"], o["reduceOnly"], o["status"]) for o in orders] == [
        ("SELL", "MARKET", False, "FILLED"), ("BUY", "MARKET", True, "FILLED")]
    assert [(float(t["price"]), float(t["realizedPnl"])) for t in trades] == [(50_010.0, 0.0), (49_010.0, 100.0)]
    fees = 0.1 * 50_010 * FEE + 0.1 * 49_010 * FEE  # 2.0004 + 1.9604
    # short 0.1 from 50 010 with the last trade at 49 500: the wallet after the first fee plus 51 of profit
    assert strategy.value_while_short == pytest.approx(100_000 - 0.1 * 50_010 * FEE + 0.1 * (50_010 - 49_500))
    assert strategy.closed_trades == [(pytest.approx(100.0), pytest.approx(100.0 - fees))]
    assert broker.realized_pnl == pytest.approx(100.0)
    assert [fill.realized_pnl for fill in broker.exchange_fills] == [0.0, 100.0]
    assert exchange.futures.wallet["USDT"] == pytest.approx(100_000 + 100.0 - fees)
    assert broker.getcash() == broker.getvalue() == pytest.approx(exchange.futures.wallet["USDT"])
    assert broker.getposition(strategy.data).size == 0 and exchange.futures.positions["BTCUSDT"].size == 0
    assert exchange.futures.leverage == {"BTCUSDT": 5}
    assert ("fills", "2, fees 3.9608, realized PnL 100") in cerebro._bc_engine.live.rows()


def test_a_futures_limit_fills_partially_then_completely_with_margin_locked_at_the_leverage(exchange):
    exchange.script_trades(PERPETUAL, [(50_000.0, 0.1), (49_989.0, 0.2), (49_980.0, 1.0)])

    # the fill from the user stream can come before the third trade on the market stream: the
    # last step also waits for that trade, the price getvalue() marks the position at
    script = steps(exchange, (1, "Accepted", saw("Accepted")), (1, "Partial", saw("Partial")),
                   (1, "Completed and the third trade", lambda s: saw("Completed")(s) and s.ticks == 3))
    strategy, broker, _ = run(exchange, BuyLimitOnFirstTick, script, leverage=10)  # 0.5 at 49 990
    _, trades = exchange.ledger()
    assert [(float(t["price"]), float(t["qty"])) for t in trades] == [(49_990.0, 0.2), (49_990.0, 0.3)]
    assert strategy.statuses() == ["Submitted", "Accepted", "Partial", "Completed"]
    assert strategy.notes[2][1:3] == (0.2, 49_990.0)
    assert strategy.notes[3][1:3] == (0.5, 49_990.0)
    assert strategy.notes[3][3] == pytest.approx(0.5 * 49_990 * FEE)
    position = exchange.futures.positions["BTCUSDT"]
    assert (position.size, position.entry) == pytest.approx((0.5, 49_990.0))
    wallet = 100_000 - 0.5 * 49_990 * FEE  # 99 990.002: a futures buy spends only its fee
    assert exchange.futures.wallet["USDT"] == pytest.approx(wallet)
    assert broker.getcash() == pytest.approx(wallet - 0.5 * 49_990 / 10)  # less the initial margin, 2 499.5
    assert broker.getvalue() == pytest.approx(wallet + 0.5 * (49_980 - 49_990))  # the last trade at 49 980
    assert broker.getposition(strategy.data).size == pytest.approx(0.5)
    assert broker.venue_positions == {PERPETUAL: pytest.approx(0.5)}  # checked at the stop's reconciliation


def test_a_futures_limit_cancelled_after_a_partial_fill_keeps_the_fill(exchange):
    exchange.script_trades(PERPETUAL, [(50_000.0, 0.1), (49_989.0, 0.2)])

    script = steps(exchange, (1, "Accepted", saw("Accepted")), (1, "Canceled", saw("Canceled")))
    strategy, broker, _ = run(exchange, CancelAfterPartial, script)  # 0.5 at 49 990, cancelled once partly filled
    orders, trades = exchange.ledger()
    assert [o["status"] for o in orders] == ["CANCELED"] and len(trades) == 1
    assert strategy.statuses() == ["Submitted", "Accepted", "Partial", "Canceled"]
    assert broker.getposition(strategy.data).size == pytest.approx(0.2)
    assert broker.getcash() == pytest.approx(100_000 - 0.2 * 49_990 * FEE - 0.2 * 49_990 / 5)
    assert exchange.open_orders() == []


def test_margin_refusals_are_margin_stops_and_reduce_only_orders_with_nothing_to_reduce_rejected(caplog):
    reasons = []

    class TooBig(Recorder):
        def on_first_tick(self) -> None:
            self.sell(size=1.0)  # 50 000 at 2x: 25 000 of margin, the wallet holds 10 000
            self.sell(size=0.1, price=49_000.0, exectype=bt.Order.Stop)
            self.buy(size=0.1, reduceOnly=True)  # nothing to reduce: the exchange refuses it

        def notify_order(self, order) -> None:
            super().notify_order(order)
            if order.status in (order.Margin, order.Rejected):
                reasons.append((order.getstatusname(), order.info.reason))

    with FakeExchange([], perpetuals=[PERPETUAL], futures_wallet={"USDT": 10_000}) as exchange:
        exchange.script_trades(PERPETUAL, [(50_000.0, 1.0)])

        script = steps(exchange, (1, "all three refused", lambda s: saw("Margin")(s) and saw("Rejected", 2)(s)))
        with caplog.at_level(logging.DEBUG):
            strategy, broker, cerebro = run(exchange, TooBig, script, leverage=2)
        orders, _ = exchange.ledger()
        assert orders == [] and exchange.order_requests == 2
        refused = [refusal for refusal in exchange.refused if refusal[1] != -2013]  # -2013: reconciliation's
        assert sorted(refused) == [("/fapi/v1/order", -2022, "ReduceOnly Order is rejected."),  # look-ups of
                                   ("/fapi/v1/order", -2019, "Margin is insufficient.")]  # orders in flight
        assert sorted(reasons) == [
            ("Margin", 'InsufficientFunds: binance {"code": -2019, "msg": "Margin is insufficient."}'),
            ("Rejected", 'InvalidOrder: binance {"code": -2022, "msg": "ReduceOnly Order is rejected."}'),
            ("Rejected", "Stop orders are not supported on futures by CCXTBroker (market and limit are; "
                         "Binance takes futures stops through its algo-order API)"),
        ]
        assert broker.getcash() == pytest.approx(10_000) and broker.counts["rejected"] == 3
        shown = "\n".join([caplog.text, repr(broker), str(cerebro._bc_engine.live.rows()), repr(broker.user_feed)])
        assert "Margin is insufficient" in shown
        assert exchange.api_key not in shown and exchange.secret not in shown


class ShortAndBid(Recorder):
    """Sells 0.2 at market on the first tick; once short, bids 0.1 at 49 000 to take profit."""

    def on_first_tick(self) -> None:
        self.orders.append(self.sell(size=0.2))

    def notify_order(self, order) -> None:
        super().notify_order(order)
        if order.status == order.Completed and len(self.orders) == 1:
            self.orders.append(self.buy(size=0.1, price=49_000.0, exectype=bt.Order.Limit))


def test_a_new_run_picks_up_the_open_short_and_the_open_bid_and_books_the_fill(exchange):
    exchange.script_trades(PERPETUAL, [(50_000.0, 1.0), (50_010.0, 1.0), (48_999.0, 1.0)])

    first = steps(exchange, (1, "short accepted", saw("Accepted")), (1, "short filled, bid accepted", saw("Accepted", 2)))
    run(exchange, ShortAndBid, first, cancel_on_stop=False)
    assert len(exchange.open_orders()) == 1 and exchange.futures.positions["BTCUSDT"].size == pytest.approx(-0.2)

    class Quiet(Recorder):
        pass

    opened = {}

    def second(run):
        run.wait(lambda s: s.statuses() == ["Accepted"], "the open bid adopted")
        opened.update(size=run.cerebro.broker.getposition(run.strategy.data).size, cash=run.cerebro.broker.getcash())
        exchange.send_trades(PERPETUAL, 1)
        run.wait(lambda s: "Completed" in s.statuses(), "the bid filled")

    strategy, broker, _ = run(exchange, Quiet, second, run_id="t2")
    wallet_before = 100_000 - 0.2 * 50_010 * FEE
    assert opened == {"size": pytest.approx(-0.2), "cash": pytest.approx(wallet_before - 0.2 * 50_010 / 5)}
    assert broker.counts["adopted"] == 1 and strategy.notes[-1][1:3] == (0.1, 49_000.0)
    assert broker.realized_pnl == pytest.approx(0.1 * (50_010 - 49_000))
    wallet = wallet_before + 101.0 - 0.1 * 49_000 * FEE
    assert exchange.futures.wallet["USDT"] == pytest.approx(wallet)
    assert broker.getposition(strategy.data).size == pytest.approx(-0.1)
    assert broker.getcash() == pytest.approx(wallet - 0.1 * 50_010 / 5)
    assert broker.getvalue() == pytest.approx(wallet - 0.1 * (48_999 - 50_010))  # short 0.1, last trade 48 999
    assert exchange.open_orders() == []


def test_the_kill_switch_cancels_the_open_order_and_buys_back_the_short_reduce_only(exchange):
    exchange.script_trades(PERPETUAL, [(50_000.0, 1.0), (50_010.0, 1.0)])

    class ShortAndOffer(Recorder):
        def on_first_tick(self) -> None:
            self.sell(size=0.2)
            self.sell(size=0.1, price=51_000.0, exectype=bt.Order.Limit)

    def script(run):
        steps(exchange, (1, "short and offer accepted", saw("Accepted", 2)), (1, "the short filled", saw("Completed")))(run)
        exchange.script_trades(PERPETUAL, [(49_999.0, 1.0)] * 20)
        threading.Thread(target=exchange.send_trades, args=(PERPETUAL, 20), kwargs={"rate": 20}, daemon=True).start()

    strategy, broker, _ = run(exchange, ShortAndOffer, script, flatten_on_stop=True)
    orders, trades = exchange.ledger()
    assert [(o["side"], o["reduceOnly"], o["status"]) for o in orders] == [
        ("SELL", False, "FILLED"), ("SELL", False, "CANCELED"), ("BUY", True, "FILLED")]
    assert [float(t["realizedPnl"]) for t in trades] == pytest.approx([0.0, 0.2 * (50_010 - 49_999)])
    assert exchange.open_orders() == [] and exchange.futures.positions["BTCUSDT"].size == 0
    assert broker.getposition(strategy.data).size == 0
    assert broker.getcash() == pytest.approx(exchange.futures.wallet["USDT"])
    assert broker.venue_positions == {PERPETUAL: 0.0}


def test_a_futures_fill_while_the_user_stream_is_down_is_booked_once(exchange):
    exchange.script_trades(PERPETUAL, [(50_000.0, 0.1), (49_980.0, 1.0)])

    def script(run):
        steps(exchange, (1, "Accepted", saw("Accepted")))(run)
        exchange.fail_next("drop_user_stream_on_fill")
        steps(exchange, (1, "Completed, by reconciliation", saw("Completed")))(run)

    strategy, broker, _ = run(exchange, BuyOnFirstTick, script)  # 0.2 at 49 990
    orders, trades = exchange.ledger()
    assert len(orders) == 1 and orders[0]["status"] == "FILLED" and len(trades) == 1
    assert broker.user_feed.stats.reconnects >= 1
    assert [(f.trade_id, f.source) for f in broker.exchange_fills] == [(str(trades[0]["id"]), "reconcile")]
    assert strategy.statuses().count("Completed") == 1 and strategy.statuses().count("Accepted") == 1
    assert broker.getposition(strategy.data).size == pytest.approx(0.2)
    assert broker.venue_positions == {PERPETUAL: pytest.approx(0.2)} and broker.counts["position_mismatches"] == 0
    assert broker.getcash() == pytest.approx(exchange.futures.wallet["USDT"] - 0.2 * 49_990 / 5)


def test_spot_and_futures_in_one_run_are_refused_before_any_order():
    with FakeExchange([SYMBOL], perpetuals=[PERPETUAL]) as exchange:
        queue = LiveEventQueue()
        cerebro = bt.Cerebro()
        for symbol in (SYMBOL, PERPETUAL):
            cerebro.add_live_feed(CCXTLiveTickFeed("binance", symbol, queue, config=exchange.ccxt_config()))
        cerebro.setbroker(CCXTBroker("binance", broker_config(exchange)))
        cerebro.addstrategy(Recorder)
        with pytest.raises(ValueError, match=r"CCXTBroker trades one account per run: spot or USD-M futures, "
                                             r"not both \(BTC/USDT, BTC/USDT:USDT\)"):
            cerebro.run(mode=bt.RunMode.TICK, duration=10)
        assert exchange.order_requests == 0 and exchange.futures.leverage == {}


def test_a_429_then_a_timeout_after_accept_place_the_futures_order_once(exchange):
    exchange.script_trades(PERPETUAL, [(50_000.0, 0.1), (49_980.0, 1.0)])
    exchange.fail_next("rate_limit")
    exchange.fail_next("timeout_after_accept")
    exchange.stall_seconds = 2.5  # the broker's ccxt gives up after 1 s

    script = steps(exchange, (1, "Accepted", saw("Accepted")), (1, "Completed", saw("Completed")))
    strategy, broker, _ = run(exchange, BuyOnFirstTick, script)  # 0.2 at 49 990
    orders, trades = exchange.ledger()
    refused = [code for _, code, _ in exchange.refused]
    assert exchange.order_requests == 2 and refused.count(-1003) == 1  # the 429, then the order accepted
    assert set(refused) <= {-1003, -2013}  # -2013: a reconciliation's look-up before the order was there
    assert len(orders) == 1 and orders[0]["status"] == "FILLED" and len(trades) == 1
    assert strategy.statuses() == ["Submitted", "Accepted", "Completed"]
    assert [fill.trade_id for fill in broker.exchange_fills] == [str(trades[0]["id"])]
    assert broker.getposition(strategy.data).size == pytest.approx(0.2)
