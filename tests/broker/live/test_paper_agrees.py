"""The same strategy on the same stream, paper and against the exchange: same orders, same fills."""

from __future__ import annotations

import backtrader as bt
import pytest

from backtrader_channels.testing.exchange import FakeExchange

from .conftest import SYMBOL, Recorder, live_run

PRINTS = [(50_000.0, 0.1), (49_989.0, 0.2), (49_985.0, 1.0), (50_010.0, 0.3), (50_020.0, 1.0)]


class BuyThenSell(Recorder):
    """A resting bid on the first trade; once it is filled, sell it all at market."""

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.buy(size=0.5, price=49_990.0, exectype=bt.Order.Limit)

    def notify_order(self, order) -> None:
        super().notify_order(order)
        if order.status == order.Completed and order.isbuy():
            self.sell(size=0.5)


def script(exchange):
    def drive(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Accepted" in s.statuses(), "the bid accepted")
        exchange.send_trades(SYMBOL, 2)
        run.wait(lambda s: s.statuses().count("Accepted") == 2, "the sell accepted")
        exchange.send_trades(SYMBOL, 2)
        run.wait(lambda s: s.statuses().count("Completed") == 2, "both completed")

    return drive


def run_on_fresh_exchange(paper: bool):
    with FakeExchange([SYMBOL]) as exchange:
        exchange.script_trades(SYMBOL, PRINTS)
        strategy, broker, _ = live_run(exchange, BuyThenSell, script(exchange), paper=paper)
        return strategy.notes, broker.getcash(), broker.getposition(strategy.data).size


def test_paper_and_live_give_the_same_orders_fills_and_cash():
    paper_notes, paper_cash, paper_position = run_on_fresh_exchange(paper=True)
    live_notes, live_cash, live_position = run_on_fresh_exchange(paper=False)
    statuses = ["Submitted", "Accepted", "Partial", "Completed", "Submitted", "Accepted", "Partial", "Completed"]
    assert [note[0] for note in live_notes] == [note[0] for note in paper_notes] == statuses
    for live, paper in zip(live_notes, paper_notes):
        assert live[1:] == pytest.approx(paper[1:])
    assert live_notes[3][1:3] == (0.5, 49_990.0)
    assert live_notes[7][1] == pytest.approx(-0.5)
    assert live_notes[7][2] == pytest.approx((0.3 * 50_010 + 0.2 * 50_020) / 0.5)
    assert live_cash == pytest.approx(paper_cash)
    assert live_position == pytest.approx(paper_position) == pytest.approx(0.0)
