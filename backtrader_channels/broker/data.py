"""ChannelData: the backtrader data object that stands for a channel's symbol.

Orders, positions and trades in backtrader hang off a data feed. A ChannelData gives
them one per symbol without paying for a LineSeries per tick: its lines are written
only when the broker needs them (an order, a fill, a valuation) or once per
notification step, never per event.
"""

from __future__ import annotations

import math
from typing import TypeVar

import backtrader as bt
import numpy as np

from .. import seam
from ..events import to_datetime

__all__ = ["ChannelData", "EPOCH_NUM", "to_num"]

EPOCH_NUM = bt.date2num(to_datetime(0.0).replace(tzinfo=None))
SECONDS_PER_DAY = 86400.0

Num = TypeVar("Num", float, np.ndarray)  # one date number or an array of them


def to_num(timestamp: float) -> float:
    """backtrader's float date number of an epoch-seconds timestamp (naive UTC)."""
    return EPOCH_NUM + timestamp / SECONDS_PER_DAY


def from_num(num: Num) -> Num:
    """Epoch seconds of a backtrader date number (naive UTC)."""
    return (num - EPOCH_NUM) * SECONDS_PER_DAY


class ChannelData(bt.feed.DataBase):
    """One symbol's order handle: ``self.buy(data=...)`` and positions key on it."""

    def __init__(self, symbol: str) -> None:
        seam.name_data(self, symbol)
        self.symbol = symbol

    def _load(self) -> bool:
        return False  # events arrive through the tick engine, never through load()

    def mark(self, timestamp: float, price: float | None) -> None:
        """Write time and price into the current slot (opening one if there is none)."""
        if not len(self):
            self.forward()
        self._write(timestamp, price)

    def clock_every(self, seconds: float) -> None:
        """Take the period of a tick-only run's clock as this data's timeframe, so analyzers
        default to it as they default to a bar feed's (``TimeReturn`` per step, ...).

        A period that is not a whole number of seconds gives one second (backtrader's
        sub-second timeframe breaks on fractions).
        """
        whole = seconds >= 1 and float(seconds).is_integer()
        seam.set_timeframe(self, bt.TimeFrame.Seconds, int(seconds) if whole else 1)

    def step(self, length: int, timestamp: float, price: float | None) -> None:
        """Write slot number ``length`` (one step of a tick-only run), opening it unless
        ``mark`` already did."""
        if len(self) < length:
            self.forward()
        self._write(timestamp, price)

    def _write(self, timestamp: float, price: float | None) -> None:
        writer = self.__dict__.get("_writer")
        if writer is None:
            lines = self.lines
            writer = self._writer = seam.slot_writer(lines.datetime, (lines.open, lines.high, lines.low, lines.close))
        writer(to_num(timestamp), math.nan if price is None else price)
