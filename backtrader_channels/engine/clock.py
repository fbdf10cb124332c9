"""The event clock: the timestamp of the event being handled."""

from __future__ import annotations

import math

__all__ = ["Clock"]


class Clock:
    """Current event time in epoch seconds (NaN before the first event)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = math.nan
