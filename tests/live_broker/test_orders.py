"""Market and limit orders through the real ccxt client to FakeExchange: placed, filled
(fully and partially), cancelled; notifications with the exchange's prices and fees."""

from __future__ import annotations

import backtrader as bt
import pytest

from .conftest import SYMBOL, Recorder, live_run


class BuyLimitOnFirstTick(Recorder):
    params = (("price", 49_990.0), ("size", 0.5), ("exectype", bt.Order.Limit))

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.buy(size=self.p.size, price=self.p.price, exectype=self.p.exectype))


def test_limit_buy_fills_partially_then_completely_at_its_limit(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (49_989.0, 0.2), (49_980.0, 1.0)])

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Accepted" in s.statuses(), "Accepted")
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Partial" in s.statuses(), "Partial")
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Completed" in s.statuses(), "Completed")

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
