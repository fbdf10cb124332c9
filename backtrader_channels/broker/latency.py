"""Latency models: how long an order takes to reach the venue, and its news to come back."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["FixedLatency", "LatencyModel"]


class LatencyModel:
    """Order-entry latency (submission to working at the venue) and response latency (an
    order event at the venue, such as a fill, to the strategy's notification), in seconds.

    Subclass and override ``entry``/``response`` for latencies that depend on the order;
    ``delays_entry`` must then say whether any order may wait before working.
    """

    delays_entry: bool = True

    def entry(self, order: Any) -> float:
        raise NotImplementedError

    def response(self, order: Any) -> float:
        raise NotImplementedError


class FixedLatency(LatencyModel):
    """The same latencies for every order."""

    def __init__(self, entry: float = 0.0, response: float = 0.0) -> None:
        for name, seconds in (("entry", entry), ("response", response)):
            if not isinstance(seconds, (int, float)) or seconds < 0 or not math.isfinite(seconds):
                raise ValueError(f"latency {name} must be a finite number of seconds >= 0, got {seconds!r}")
        self.entry_seconds = float(entry)
        self.response_seconds = float(response)
        self.delays_entry = entry > 0

    def entry(self, order: Any) -> float:
        return self.entry_seconds

    def response(self, order: Any) -> float:
        return self.response_seconds

    def __repr__(self) -> str:
        return f"FixedLatency(entry={self.entry_seconds}, response={self.response_seconds})"
