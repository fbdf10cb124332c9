"""backtrader's timers (``add_timer``) in tick mode, driven by event time.

A timer fires at the first event stamped at or after its time (``when`` plus ``offset``,
then every ``repeat``; on the ``weekdays``/``monthdays`` asked for), after that event's
callbacks, before the orders sent during it start working: an order sent in
``notify_timer`` fills on later events, as any order. backtrader's own ``Timer.check``
decides; the engine only asks it at the events where it can say yes (see ``due``), so a
run with timers costs one comparison per event.
"""

from __future__ import annotations

import math
from typing import Any

import backtrader as bt

from .. import seam
from ..broker.data import from_num, to_num

__all__ = ["Timers"]

SLACK = 1e-3  # seconds: checks this much early cover the rounding of date numbers (a check too early says no)


class Timers:
    """The started ``timers`` of one run (``seam.timers``); ``due`` (epoch seconds) is when
    they next need checking."""

    def __init__(self, cerebro: bt.Cerebro, strategies: list, markets: dict[str, Any], timers: list) -> None:
        self.cerebro, self.strategies, self.markets = cerebro, strategies, markets
        self.timers = timers
        self.due = -math.inf if self.timers else math.inf

    def fire(self, now: float) -> None:
        """Check the timers at event time ``now`` (``notify_timer`` for those due); the
        symbols' data hold ``now`` and the last price, as a bar would (session timers read it)."""
        for market in self.markets.values():
            market.mark(now)
        num = to_num(now)
        seam.fire_timers(self.cerebro, self.strategies, num)
        self.due = from_num(min(seam.timer_next_check(timer, num) for timer in self.timers)) - SLACK
