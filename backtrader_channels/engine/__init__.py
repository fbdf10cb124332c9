"""The tick-mode engine: merge (historical) or queue (live) → channels → broker → strategy."""

from .clock import Clock
from .engine import TickEngine

__all__ = ["Clock", "TickEngine"]
