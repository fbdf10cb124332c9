"""The live engine's one hook for what follows every handled event: the event log, and
feeds that acknowledge an event once it was handled (``BusFeed``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["event_sink"]


def event_sink(engine: Any) -> Callable[[Any], None] | None:
    """The per-event sink of this live run, bound to ``engine``; None when nothing listens."""
    sinks = [feed.handled for feed in engine.live.feeds if callable(getattr(feed, "handled", None))]
    log = getattr(engine.cerebro, "_bc_event_log", None)
    if log is not None:
        log.bind(engine)
        sinks.append(log.write)
    if len(sinks) <= 1:
        return sinks[0] if sinks else None

    def every_sink(event: Any) -> None:
        for sink in sinks:
            sink(event)

    return every_sink
