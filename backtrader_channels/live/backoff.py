"""Reconnect delays: exponential backoff with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (1-based): ``initial * factor**(n-1)``, capped at
    ``maximum``, then up to ``jitter`` of it taken off at random so that many clients cut off
    together do not reconnect in lockstep.

    Defaults: 0.5 s, 1 s, 2 s, ... 30 s, each shortened by up to half.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid {self!r}: need 0 <= initial <= maximum, factor >= 1, 0 <= jitter <= 1")

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return base * (1.0 - self.jitter * random.random())
