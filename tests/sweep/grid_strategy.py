"""The strategy file the sweep tests run: a moving-average cross on trade prices.

``fail_at`` makes the parameter set with ``fast == fail_at`` raise; ``die_marker`` makes the
first job with ``fast == die_at`` kill its worker process (once: it leaves the marker file);
``pause`` makes a job take that many seconds more.
"""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

import backtrader as bt


class MovingAverageCross(bt.Strategy):
    params = (("fast", 20), ("slow", 200), ("size", 0.01), ("fail_at", None), ("die_at", None),
              ("die_marker", ""), ("pause", 0.0))

    def __init__(self) -> None:
        if self.p.fast == self.p.die_at and not Path(self.p.die_marker).exists():
            Path(self.p.die_marker).write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-sweep
        time.sleep(self.p.pause)
        self.fast: deque[float] = deque(maxlen=self.p.fast)
        self.slow: deque[float] = deque(maxlen=self.p.slow)
        self.fast_sum = self.slow_sum = 0.0

    def notify_tick(self, tick) -> None:
        if self.p.fast == self.p.fail_at and len(self.slow) == 100:
            raise RuntimeError(f"fast={self.p.fast} is not allowed")
        if len(self.fast) == self.fast.maxlen:
            self.fast_sum -= self.fast[0]
        if len(self.slow) == self.slow.maxlen:
            self.slow_sum -= self.slow[0]
        self.fast.append(tick.price)
        self.slow.append(tick.price)
        self.fast_sum += tick.price
        self.slow_sum += tick.price
        if len(self.slow) < self.slow.maxlen:
            return
        above = self.fast_sum / len(self.fast) > self.slow_sum / len(self.slow)
        if above and not self.position:
            self.buy(size=self.p.size)
        elif not above and self.position:
            self.close()
