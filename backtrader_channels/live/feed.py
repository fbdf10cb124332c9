"""AsyncFeed: the start/stop lifecycle every live feed shares (ccxt.pro feeds, bus feeds)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from ..events import EventPriority
from .runner import FeedThread
from .stats import FeedCounters, FeedStats

__all__ = ["AsyncFeed"]


class AsyncFeed:
    """A feed that ``FeedThread`` and ``cerebro.add_live_feed`` can run: ``await start()`` runs
    ``_run`` until ``request_stop()``/``stop()`` (from any thread) ends it. A feed runs once.
    Subclasses set ``channel_type``/``priority`` and implement ``_run``."""

    channel_type: str  # set by subclasses, per class or (BusFeed) per instance
    priority: EventPriority

    def __init__(self, latency_window: int = 10_000) -> None:
        self.error: BaseException | None = None  # what ended the feed, if not stop()
        self.last_error: BaseException | None = None  # the latest error a feed kept going after
        self._counters = FeedCounters(latency_window)
        self._started = False
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._done = threading.Event()

    async def start(self) -> None:
        """Consume until ``stop()``; raises the error that ended the feed otherwise."""
        if self._started:
            raise RuntimeError(f"{self!r} was already started; a feed runs once")
        self._started = True
        try:
            if self._stop_requested:
                return
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            self._task = asyncio.ensure_future(self._run())
            await self._task
        except asyncio.CancelledError:
            if not self._stop_requested:
                raise
        except BaseException as error:
            self.error = self._reported(error)
            raise
        finally:
            self._done.set()

    def request_stop(self) -> None:
        """Ask the feed to stop, from any thread, without waiting."""
        if self._stop_requested:
            return
        self._stop_requested = True
        task, loop = self._task, self._loop
        if task is not None and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._interrupt, task)

    def _interrupt(self, task: asyncio.Task[None]) -> None:
        """On the feed's loop: end ``_run`` (by default, cancel it)."""
        task.cancel()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop and close the connection; True once closed.

        From another thread, waits up to ``timeout`` seconds for the close. From the feed's
        own event loop it cannot wait: ``start()`` returns once the close is done.
        """
        self.request_stop()
        if not self._started:
            return True
        if threading.get_ident() == self._loop_thread:
            return self._done.is_set()
        return self._done.wait(timeout)

    def start_in_thread(self) -> FeedThread:
        """Run this feed on its own event loop in a daemon thread; ``stop()``/``join()`` the handle."""
        return FeedThread([self]).start()

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    @property
    def stats(self) -> FeedStats:
        return self._counters.snapshot()

    async def _run(self) -> None:
        raise NotImplementedError

    def _reported(self, error: BaseException) -> BaseException:
        """The error as ``error`` keeps it (subclasses redact secrets)."""
        return error
