"""FeedThread: live feeds on one asyncio loop in a background thread.

Cerebro runs in the main thread and consumes the ``LiveEventQueue``; the feeds produce into
it from this thread. ``stop()`` stops every feed (closing their exchanges) and joins.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Feed", "FeedThread"]


class Feed(Protocol):
    """What FeedThread runs: an async ``start()`` that streams until ``request_stop()``."""

    async def start(self) -> None: ...

    def request_stop(self) -> None: ...


class FeedThread:
    """Runs ``feeds`` concurrently on a new event loop in a daemon thread.

    A feed that fails (e.g. an unknown symbol) ends alone; its error is in ``errors`` (and
    in ``feed.error``) while the others go on.
    """

    def __init__(self, feeds: Iterable[Feed], *, name: str = "ccxt-feeds") -> None:
        self.feeds = list(feeds)
        if not self.feeds:
            raise ValueError("FeedThread needs at least one feed")
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> FeedThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop every feed and wait up to ``timeout`` s in all; True if the thread ended."""
        for feed in self.feeds:
            feed.request_stop()
        return self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it did."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> FeedThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _main(self) -> None:
        asyncio.run(self._run_all())

    async def _run_all(self) -> None:
        results = await asyncio.gather(*(feed.start() for feed in self.feeds), return_exceptions=True)
        self.errors = [result for result in results if isinstance(result, BaseException)]
