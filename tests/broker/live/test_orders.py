"""Market and limit orders through the real ccxt client to FakeExchange: placed, filled
(fully and partially), cancelled; notifications with the exchange's prices and fees."""

from __future__ import annotations

import backtrader as bt
import pytest

from .conftest import SYMBOL, Recorder, live_run, saw, trades_then


class BuyLimitOnFirstTick(Recorder):
    params = (("price", 49_990.0), ("size", 0.5), ("exectype", bt.Order.Limit))

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.buy(size=self.p.size, price=self.p.price, exectype=self.p.exectype))


def test_limit_buy_fills_partially_then_completely_at_its_limit(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (49_989.0, 0.2), (49_980.0, 1.0)])

    script = trades_then(exchange, SYMBOL, *[(1, status, saw(status)) for status in ("Accepted", "Partial", "Completed")])

    strategy, broker, _ = live_run(exchange, BuyLimitOnFirstTick, script)
    orders, trades = exchange.ledger()
    assert len(orders) == 1 and orders[0]["status"] == "FILLED" and orders[0]["clientOrderId"] == "t1x1"
    assert [(t["price"], t["qty"]) for t in trades] == [("49990.00000000", "0.20000000"), ("49990.00000000", "0.30000000")]
    assert strategy.statuses() == ["Submitted", "Accepted", "Partial", "Completed"]
    partial, completed = strategy.notes[2], strategy.notes[3]
    assert partial[1:3] == (0.2, 49_990.0)
    assert partial[3] == pytest.approx(0.2 * 49_990 * 0.001)
    assert completed[1:3] == (0.5, 49_990.0)
    assert completed[3] == pytest.approx(0.5 * 49_990 * 0.001)
    assert broker.getposition(strategy.data).size == pytest.approx(0.5)
    assert broker.getcash() == pytest.approx(100_000 - 0.5 * 49_990 * 1.001)
    assert exchange.balances["USDT"] == pytest.approx(broker.getcash())
    assert exchange.open_orders() == []


class BuyMarketOnFirstTick(BuyLimitOnFirstTick):
    params = (("price", None), ("size", 0.3), ("exectype", bt.Order.Market))


def test_market_buy_fills_at_the_next_trade_price_in_parts_of_the_trades_quantities(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_001.0, 0.25), (50_002.0, 1.0)])

    script = trades_then(exchange, SYMBOL, (1, "Accepted", saw("Accepted")), (2, "Completed", saw("Completed")))

    strategy, broker, _ = live_run(exchange, BuyMarketOnFirstTick, script)
    _, trades = exchange.ledger()
    assert [(float(t["price"]), float(t["qty"])) for t in trades] == [(50_001.0, 0.25), (50_002.0, 0.05)]
    assert strategy.statuses() == ["Submitted", "Accepted", "Partial", "Completed"]
    average = (50_001.0 * 0.25 + 50_002.0 * 0.05) / 0.3
    assert strategy.notes[-1][1] == pytest.approx(0.3)
    assert strategy.notes[-1][2] == pytest.approx(average)
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])
    assert [fill.trade_id for fill in broker.exchange_fills] == ["1", "2"]


class CancelAfterPartial(Recorder):
    """Buys 0.5 at 49 990, cancels what is left once part of it filled."""

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.buy(size=0.5, price=49_990.0, exectype=bt.Order.Limit))

    def notify_order(self, order) -> None:
        super().notify_order(order)
        if order.status == order.Partial:
            self.cancel(order)


def test_cancel_after_a_partial_fill_keeps_the_fill_and_leaves_nothing_open(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (49_989.0, 0.2)])

    script = trades_then(exchange, SYMBOL, (1, "Accepted", saw("Accepted")), (1, "Canceled", saw("Canceled")))

    strategy, broker, _ = live_run(exchange, CancelAfterPartial, script)
    orders, trades = exchange.ledger()
    assert [o["status"] for o in orders] == ["CANCELED"] and len(trades) == 1
    assert strategy.statuses() == ["Submitted", "Accepted", "Partial", "Canceled"]
    assert strategy.notes[-1][1] == pytest.approx(0.2)
    assert broker.getposition(strategy.data).size == pytest.approx(0.2)
    assert exchange.balances["USDT"] == pytest.approx(100_000 - 0.2 * 49_990 * 1.001)
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])


class Refused(Recorder):
    """On its first tick: too big for the balance, a size off the lot step, a trailing stop."""

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.buy(size=5.0)  # 250 000 USDT with 100 000 in the account
            self.buy(size=0.123456)  # the lot step is 0.00001
            self.buy(size=0.1, price=51_000.0, exectype=bt.Order.StopTrail, trailamount=10.0)


def test_refused_orders_are_rejected_or_margin_with_the_reason_and_never_doubled(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    reasons = []

    class Strategy(Refused):
        def notify_order(self, order) -> None:
            super().notify_order(order)
            if order.status in (order.Rejected, order.Margin):
                reasons.append(order.info.reason)

    script = trades_then(exchange, SYMBOL, (1, "three refusals",
                                            lambda s: s.statuses().count("Rejected") == 2 and "Margin" in s.statuses()))

    strategy, broker, _ = live_run(exchange, Strategy, script)
    orders, _ = exchange.ledger()
    assert orders == [] and exchange.order_requests == 1
    assert sorted(reasons) == sorted([
        "InsufficientFunds: binance Account has insufficient balance for requested action.",
        "size 0.123456 is not a multiple of BTC/USDT's amount step 1e-05",
        "StopTrail orders are not supported by CCXTBroker (market, limit, stop and stop-limit are)",
    ])
    assert broker.counts["rejected"] == 3 and broker.getcash() == 100_000


class Stops(Recorder):
    """A buy stop at 50 010 and a buy stop-limit (stop 50 010, limit 50 011) on the first trade."""

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.buy(size=0.1, price=50_010.0, exectype=bt.Order.Stop))
            self.orders.append(self.buy(size=0.2, price=50_010.0, plimit=50_011.0, exectype=bt.Order.StopLimit))


def test_stop_and_stop_limit_trigger_at_the_stop_and_fill_at_the_print_or_the_limit(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_005.0, 1.0), (50_012.0, 1.0), (50_008.0, 1.0)])

    script = trades_then(exchange, SYMBOL, (1, "both accepted", lambda s: s.statuses().count("Accepted") == 2),
                         (3, "both completed", lambda s: s.statuses().count("Completed") == 2))

    strategy, broker, _ = live_run(exchange, Stops, script)
    orders, trades = exchange.ledger()
    assert [(o["type"], o["stopPrice"], o["status"]) for o in orders] == [
        ("STOP_LOSS", "50010.00000000", "FILLED"), ("STOP_LOSS_LIMIT", "50010.00000000", "FILLED")]
    stop, stop_limit = strategy.orders
    assert (stop.executed.size, stop.executed.price) == pytest.approx((0.1, 50_012.0))  # the triggering print
    assert (stop_limit.executed.size, stop_limit.executed.price) == pytest.approx((0.2, 50_011.0))  # its limit
    assert [float(t["price"]) for t in trades] == [50_012.0, 50_011.0]
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])
