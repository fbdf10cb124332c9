"""Sizers for symbols priced in thousands: sizes in fractions of a unit.

backtrader sizes orders in whole units where it divides money by a price
(``CommInfoBase.getsize``, which ``order_target_value``/``order_target_percent`` use), so
at a BTC price a 1,000 USDT order rounds to 0 and is never placed. ``PercentSizer`` and
``AllInSizer`` already size in fractions; ``QuoteSizer`` spends a fixed amount of the quote
currency per order.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt

__all__ = ["QuoteSizer"]


class QuoteSizer(bt.Sizer):
    """Each order is worth ``cash`` of the quote currency (USDT for BTC/USDT) at the
    symbol's last price, in fractions of a unit: ``QuoteSizer(cash=1000)`` at 94,000
    buys 0.010638... BTC. A sell with a long position held sells at most what is held
    (backtrader's sizers close, never flip, a position with the default size)."""

    params = (("cash", 1000.0),)

    def _getsizing(self, comminfo: Any, cash: float, data: Any, isbuy: bool) -> float:
        size = self.p.cash / data.close[0]
        held = self.broker.getposition(data).size
        if not isbuy and held > 0:
            return min(size, held)
        return size
