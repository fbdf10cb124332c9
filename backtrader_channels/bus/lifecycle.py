"""The lifecycle of the bus feeds: ``AsyncFeed``'s start/stop (live/feed.py), plus reconnects.

``RedisFeed`` runs ``_session`` (one connection to Redis) again and
again: a lost connection (Redis restarted, network) reconnects after a backoff, forever
unless ``max_retries`` consecutive failures. redis-py does not reconnect by itself here, so
each new connection starts a new session, which checks what Redis kept (``BusFeed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..extras import missing_extra

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as error:
    raise missing_extra("bus", "the Redis bus", error) from error

from ..live.backoff import Backoff
from ..live.feed import AsyncFeed

__all__ = ["RedisFeed"]

log = logging.getLogger("backtrader_channels.bus")


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

    def __init__(self, url: str, *, backoff: Backoff | None = None, max_retries: int | None = None,
                 connect_timeout: float = 2.0) -> None:
        super().__init__()
        self.url = url
        self.connect_timeout = connect_timeout
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
            connection = aioredis.Redis.from_url(self.url, socket_connect_timeout=self.connect_timeout,
                                                 retry=Retry(NoBackoff(), 0), single_connection_client=True)
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
