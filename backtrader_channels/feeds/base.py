"""CCXTFeedBase: the lifecycle every ccxt.pro feed shares.

One loop per feed: ``watch`` (one ccxt.pro ``watch_*`` call) -> ``deliver`` (events onto the
queue), kept alive across failures:

- ``NetworkError`` (socket closed or reset, timeouts, exchange unavailable): reconnect after
  an exponential backoff with jitter (``Backoff``: 0.5 s doubling to 30 s), forever unless
  ``max_retries`` consecutive failures; ccxt reconnects by itself on the next ``watch_*``.
- a gap in an order book (``InvalidNonce``/``ChecksumError``): the book is rebuilt from a
  fresh REST snapshot on a new connection; counted in ``resyncs``, at once the first time,
  after the backoff if resyncs follow each other with nothing delivered in between.
- the watchdog: no result for ``stale_timeout`` seconds (a silent server, a half-open TCP
  connection, or ccxt's receive loop dead after a bad frame) replaces the exchange with a
  new one (markets carried over, so no extra REST call) and reconnects.
- a message ccxt cannot handle inside ``watch_*`` (a non-ccxt error, e.g. ``TypeError`` on a
  depth price ``"abc"``: ccxt drops its book and rejects the watch) or data the feed refuses
  as a whole (``Resync``, e.g. a crossed book): counted in ``bad_messages``, then resynced
  like a gap. A feed never dies of one message.
- any other ccxt error (bad symbol, authentication) ends the feed: ``start()`` raises it;
  with ``keep_going=True`` it is counted in ``failures`` (``last_error``) and retried after
  the backoff instead, for ever (or until ``max_retries`` failures in a row).

``stop()`` may be called from any thread; it returns once the exchange is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import ccxt

from ..events import Event, EventPriority
from .backoff import Backoff
from .guard import create_exchange
from .redact import RedactingFilter, redact_error, redact_library_logs, register_secrets
from .runner import FeedThread
from .stats import FeedCounters, FeedStats

if TYPE_CHECKING:
    from ..live import LiveDataValidator, LiveEventQueue

__all__ = ["CCXTFeedBase", "Resync"]

log = logging.getLogger("backtrader_channels.feeds")
log.addFilter(RedactingFilter())  # no API key, secret or request signature in a log line
redact_library_logs()


class Resync(Exception):
    """Raised by ``_deliver``: the exchange's data is wrong as a whole; rebuild it from a snapshot."""


class CCXTFeedBase:
    """Base of the ccxt.pro feeds: reconnects, resyncs, watchdog, stats and a clean stop.

    Subclasses set ``channel_type``/``priority`` and implement ``_watch`` and ``_deliver``.
    A feed runs once: after ``stop()`` create a new one.
    """

    channel_type: ClassVar[str]
    priority: ClassVar[EventPriority]

    def __init__(
        self,
        exchange_id: str,
        symbol: str,
        event_queue: LiveEventQueue,
        *,
        config: Mapping[str, Any] | None = None,
        stale_timeout: float | None = 30.0,
        backoff: Backoff | None = None,
        max_retries: int | None = None,
        validator: LiveDataValidator | None = None,
        guard_messages: bool = True,
        latency_window: int = 10_000,
        keep_going: bool = False,
    ) -> None:
        """``config`` goes to the ccxt.pro exchange constructor (urls, apiKey/secret, options,
        sandbox...). ``stale_timeout`` (s, None: no watchdog) should exceed the longest quiet
        spell of the symbol. ``validator`` refuses events before they are queued.
        ``guard_messages`` keeps one bad frame from killing ccxt's receive loop (see guard.py);
        without it the watchdog is the only recovery, and what was sent meanwhile is lost.
        ``keep_going`` retries errors that would end the feed (see the module docstring).
        """
        if stale_timeout is not None and stale_timeout <= 0:
            raise ValueError(f"stale_timeout must be > 0 seconds or None, got {stale_timeout!r}")
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.event_queue = event_queue
        self.config = dict(config or {})
        register_secrets(self.config)
        self.stale_timeout = stale_timeout
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries
        self.validator = validator
        self.guard_messages = guard_messages
        self.keep_going = keep_going
        self.last_error: BaseException | None = None  # the latest error kept going after
        self.error: BaseException | None = None  # what ended the feed, if not stop()
        self._counters = FeedCounters(latency_window)
        self._started = False
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._done = threading.Event()
        self._alive_until = 0.0  # the watchdog's deadline (time.monotonic())
        self._delivered = False  # whether the current exchange delivered anything yet

    # -- public API ----------------------------------------------------------------------
    async def start(self) -> None:
        """Stream until ``stop()``; raises the error that ended the feed otherwise."""
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
            self.error = redact_error(error)  # ccxt's messages hold the signed request URL
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
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to cancel
                loop.call_soon_threadsafe(task.cancel)

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop streaming and close the exchange; True once closed.

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
    def stats(self) -> FeedStats:
        return self._counters.snapshot()

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.exchange_id!r}, {self.symbol!r})"

    # -- subclass hooks ------------------------------------------------------------------
    async def _watch(self, exchange: Any) -> Any:
        """One ccxt.pro ``watch_*`` call."""
        raise NotImplementedError

    def _deliver(self, result: Any, recv_timestamp: float) -> None:
        """Turn one ``_watch`` result into events and ``_emit`` them."""
        raise NotImplementedError

    def _is_resync(self, error: Exception) -> bool:
        """Whether ``error`` means: rebuild the data from a fresh snapshot."""
        return isinstance(error, ccxt.InvalidNonce)

    # -- machinery -----------------------------------------------------------------------
    def _emit(self, data: Any, timestamp: float) -> bool:
        event = Event(timestamp, self.priority, self.channel_type, self.symbol, data)
        if self.validator is not None and not self.validator.validate(event):
            self._counters.rejected += 1
            return False
        self.event_queue.push(event)
        return True

    def _on_bad_frame(self, data: Any, error: Exception) -> None:
        """The guard's report of a frame ccxt could not handle."""
        self._counters.messages += 1
        self._skip_bad(data, error)

    def _skip_bad(self, data: Any, error: Exception) -> None:
        self._counters.bad_messages += 1
        log.warning("%r: skipped a bad message (%s: %s): %.200r", self, type(error).__name__, error, data)

    def _new_exchange(self, markets_from: Any = None) -> Any:
        on_bad = self._on_bad_frame if self.guard_messages else None
        exchange = create_exchange(self.exchange_id, self.config, on_bad)
        if markets_from is not None and markets_from.markets:
            exchange.set_markets(markets_from.markets, markets_from.currencies)
        return exchange

    def _keep_alive(self, pause: float = 0.0) -> None:
        """Push the watchdog's deadline to ``stale_timeout`` seconds after ``pause``."""
        if self.stale_timeout is not None:
            self._alive_until = time.monotonic() + pause + self.stale_timeout

    async def _run(self) -> None:
        """Stream from one exchange after another: a new one after each resync or watchdog."""
        counters = self._counters
        exchange = self._new_exchange()
        closing: set[asyncio.Task[None]] = set()  # replaced exchanges, closed meanwhile
        resyncs_in_a_row = 0
        try:
            while True:
                self._keep_alive()
                outcome = await self._watch_over(asyncio.ensure_future(self._stream(exchange)))
                if outcome is None:
                    return
                if outcome == "stale":
                    counters.watchdog_restarts += 1
                    counters.reconnects += 1
                    log.warning("%r: nothing for %s s, reconnecting", self, self.stale_timeout)
                closing.add(asyncio.ensure_future(exchange.close()))
                exchange = self._new_exchange(markets_from=exchange)
                resyncs_in_a_row = resyncs_in_a_row + 1 if outcome == "resync" and not self._delivered else 0
                if resyncs_in_a_row > 1:  # the fresh snapshot did not help: slow down
                    delay = self.backoff.delay(resyncs_in_a_row - 1)
                    self._keep_alive(delay)
                    await asyncio.sleep(delay)
        finally:
            closing.add(asyncio.ensure_future(exchange.close()))
            await asyncio.gather(*closing, return_exceptions=True)

    async def _watch_over(self, stream: asyncio.Task[str | None]) -> str | None:
        """Wait for ``stream`` to end (its outcome, or its error), or cancel it once stale.

        A separate watchdog, not a timeout around each ``watch_*`` call: a new task per call
        would yield to the loop between two calls, and a message ccxt handles in that gap
        stays in its cache until the next one arrives.
        """
        try:
            while True:
                timeout = None if self.stale_timeout is None else self._alive_until - time.monotonic()
                if timeout is not None and timeout <= 0:
                    return "stale"
                done, _ = await asyncio.wait((stream,), timeout=timeout)
                if done:
                    return stream.result()
        finally:
            if not stream.done():
                stream.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stream

    async def _stream(self, exchange: Any) -> str | None:
        """watch -> deliver on one exchange until stopped (None) or a resync is due ("resync").

        A resync takes a new exchange rather than another ``watch_*`` on this one: after a
        gap detected while no watch was pending, ccxt keeps the rejected future and fails the
        next calls with the same error, and a snapshot resolved meanwhile is never returned.
        """
        counters = self._counters
        self._delivered = False
        failures = 0
        while not self._stop_requested:
            self._keep_alive()
            try:
                result = await self._watch(exchange)
            except ccxt.BaseError as error:
                if self._is_resync(error):
                    counters.resyncs += 1
                    log.warning("%r: resynchronising after %s: %s", self, type(error).__name__, error)
                    return "resync"
                failures += 1
                fatal = not isinstance(error, ccxt.NetworkError)
                if (fatal and not self.keep_going) or (self.max_retries is not None and failures > self.max_retries):
                    raise
                if fatal:
                    counters.failures += 1
                    self.last_error = redact_error(error)
                else:
                    counters.reconnects += 1
                delay = self.backoff.delay(failures)
                log.warning("%r: %s: %s; reconnecting in %.2f s", self, type(error).__name__, error, delay)
                self._keep_alive(delay)
                await asyncio.sleep(delay)
                continue
            except Exception as error:  # ccxt could not handle a message and dropped its data
                counters.messages += 1
                return self._resync_after_bad(None, error)
            failures = 0
            self._delivered = True
            try:
                self._deliver(result, time.time())
            except Resync as error:
                return self._resync_after_bad(result, error)
        return None

    def _resync_after_bad(self, data: Any, error: Exception) -> str:
        self._skip_bad(data, error)
        self._counters.resyncs += 1
        log.warning("%r: resynchronising after a bad message", self)
        return "resync"
