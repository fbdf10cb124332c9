"""A runner for order-parameter tests: both submission paths, every outcome with its reason."""

from __future__ import annotations

import backtrader as bt
import pytest

import backtrader_channels as bc
from tests.conftest import Scripted, write_book_jsonl, write_trades_csv


class Outcomes(Scripted):
    """``Scripted`` that also keeps the ``order.info.reason`` of each order that ended (None when
    there is none); a notification's info is the order's own, so a Partial would show a later reason."""

    def __init__(self):
        super().__init__()
        self.reasons = []

    def notify_order(self, order):
        super().notify_order(order)
        if not order.alive():
            self.reasons.append(order.info.get("reason"))


@pytest.fixture
def run_params(tmp_path):
    """Run ``Outcomes`` in tick mode; ``lean=False`` sends every order through backtrader's own
    submission instead of the lean path. Returns (strategy, cerebro)."""

    def run(trades=None, book=None, actions=None, broker=None, lean=True, cash=100_000.0):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(cash)
        if book is not None:
            cerebro.add_channel(bc.OrderBookChannel, symbol="BTC/USDT",
                                dataname=write_book_jsonl(tmp_path / "book.jsonl", book))
        if trades is not None:
            cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT",
                                dataname=write_trades_csv(tmp_path / "trades.csv", trades))
        for name, value in (broker or {}).items():
            getattr(cerebro.broker, name)(value)
        cerebro.broker.p.lean_orders = lean
        cerebro.addstrategy(Outcomes, actions=actions)
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
        return strategy, cerebro

    return run
