"""The live engine's one hook for sinks that follow every handled event (the event log)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["event_sink"]


def event_sink(engine: Any) -> Callable[[Any], None] | None:
    """The per-event sink of this run (an attached EventLog's ``write``), bound to
    ``engine``; None when nothing listens."""
    log = getattr(engine.cerebro, "_bc_event_log", None)
    if log is None:
        return None
    log.bind(engine)
    return log.write
