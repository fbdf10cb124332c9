"""The start/stop lifecycle of the bus feeds, like the ccxt feeds' (see feeds/base.py).

``AsyncFeed``: ``await start()`` runs ``_run`` until ``request_stop()``/``stop()`` (from any
thread) cancels it. ``RedisFeed`` runs ``_session`` (one connection to Redis) again and
again: a lost connection (Redis restarted, network) reconnects after a backoff, forever
unless ``max_retries`` consecutive failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from ..extras import missing_extra

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as error:
    raise missing_extra("bus", "the Redis bus", error) from error

from ..events import EventPriority
from ..feeds.backoff import Backoff
from ..feeds.stats import FeedCounters, FeedStats

__all__ = ["AsyncFeed", "RedisFeed"]

log = logging.getLogger("backtrader_channels.bus")


class AsyncFeed:
    """A feed that ``FeedThread`` and ``cerebro.add_live_feed`` can run; subclasses implement ``_run``."""

    channel_type: str  # set by subclasses, per class or (BusFeed) per instance
    priority: EventPriority

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.last_error: BaseException | None = None  # as the ccxt feeds' (never set: no keep_going here)
        self._counters = FeedCounters(10_000)
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
            self.error = error
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
        """Stop consuming; True once the connection is closed (see CCXTFeedBase.stop)."""
        self.request_stop()
        if not self._started:
            return True
        if threading.get_ident() == self._loop_thread:
            return self._done.is_set()
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    @property
    def stats(self) -> FeedStats:
        return self._counters.snapshot()

    async def _run(self) -> None:
        raise NotImplementedError


class _Stopped(Exception):
    """A stop arrived while the session waited for Redis."""


def _ignore_outcome(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


class RedisFeed(AsyncFeed):
    """A feed reading Redis; subclasses implement ``_session(connection)``.

    A stop ends the session only while it waits in a blocking read (``_read``), never
    between taking entries and acknowledging them; otherwise the session sees
    ``_stop_requested`` after its current step. A backoff sleep is cut short. Entries the
    abandoned read may have been handed stay pending in Redis and come first next time.
    """

    def __init__(self, url: str, *, backoff: Backoff | None = None, max_retries: int | None = None) -> None:
        super().__init__()
        self.url = url
        self.backoff = backoff or Backoff(0.1, 5.0)
        self.max_retries = max_retries
        self._failures = 0  # consecutive failed connections
        self._stopping = asyncio.Event()  # set on the feed's loop by request_stop()

    def _interrupt(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()

    async def _read(self, call: Any) -> Any:
        """Await a blocking Redis read (a coroutine), or raise ``_Stopped`` at once on a stop.

        A race, not a cancellation: redis-py may swallow a cancel that arrives as a reply
        does, and the read would then run out its whole block time.
        """
        read = asyncio.ensure_future(call)
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait((read, stopping), return_when=asyncio.FIRST_COMPLETED)
        if read in done:
            stopping.cancel()
            return read.result()
        read.cancel()
        read.add_done_callback(_ignore_outcome)  # the connection closes under it
        raise _Stopped

    async def _run(self) -> None:
        while not self._stop_requested:
            connection = aioredis.Redis.from_url(self.url)
            try:
                await self._session(connection)
                return
            except _Stopped:
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                self._failures += 1
                if self.max_retries is not None and self._failures > self.max_retries:
                    raise
                self._counters.reconnects += 1
                delay = self.backoff.delay(self._failures)
                log.warning("%r: %s: %s; reconnecting in %.2f s", self, type(error).__name__, error, delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            finally:
                with contextlib.suppress(Exception):
                    await connection.aclose()

    async def _session(self, connection: Any) -> None:
        """Read from Redis until stopped (a connection error ends the session); reset
        ``_failures`` to 0 after each successful read."""
        raise NotImplementedError
