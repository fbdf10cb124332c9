"""Live trading plumbing: the event queue between feeds and the engine, and data validation."""

from .conflate import merge_book_updates
from .queue import LiveEventQueue, QueueStats
from .validator import LiveDataValidator

__all__ = ["LiveDataValidator", "LiveEventQueue", "QueueStats", "merge_book_updates"]
