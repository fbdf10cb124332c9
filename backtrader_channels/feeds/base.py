"""CCXTFeedBase: the lifecycle every ccxt.pro feed shares.

One loop per feed: ``watch`` (one ccxt.pro ``watch_*`` call) -> ``deliver`` (events onto the
queue), kept alive across failures:

- ``NetworkError`` (socket closed or reset, timeouts, exchange unavailable): reconnect after
  an exponential backoff with jitter (``Backoff``: 0.5 s doubling to 30 s), forever unless
  ``max_retries`` consecutive failures; ccxt reconnects by itself on the next ``watch_*``.
- a gap in an order book (``InvalidNonce``/``ChecksumError``): the book is rebuilt from a
  fresh REST snapshot on a new connection; counted in ``resyncs``, at once the first time,
  after the backoff if resyncs follow each other with nothing delivered in between.
- ``restart()`` (any thread): reconnect on a new exchange now, as the watchdog would (an
  execution client that found the stream silent while the account moved).
- the watchdog: no result for ``stale_timeout`` seconds (a silent server, a half-open TCP
  connection, or ccxt's receive loop dead after a bad frame) replaces the exchange with a
  new one (markets carried over, so no extra REST call) and reconnects.
- a message ccxt cannot handle inside ``watch_*`` (a non-ccxt error, e.g. ``TypeError`` on a
  depth price ``"abc"``: ccxt drops its book and rejects the watch) or data the feed refuses
  as a whole (``Resync``, e.g. a NaN level or a crossed book): counted in ``bad_messages``
  (and ``bad_by_cause``), then resynced like a gap. A feed never dies of one message.
- any other ccxt error (bad symbol, authentication) ends the feed: ``start()`` raises it;
  with ``keep_going=True`` it is counted in ``failures`` (``last_error``) and retried after
  the backoff instead, for ever (or until ``max_retries`` failures in a row).

``stop()`` may be called from any thread; it returns once the exchange is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ccxt

from ..events import Event
from ..live.backoff import Backoff
from ..live.feed import AsyncFeed
from .guard import Refused, create_exchange
from .redact import RedactingFilter, redact_error, redact_library_logs, register_secrets

if TYPE_CHECKING:
    from ..live import LiveDataValidator, LiveEventQueue

__all__ = ["CCXTFeedBase", "Resync", "abandon_futures"]

log = logging.getLogger("backtrader_channels.feeds")
log.addFilter(RedactingFilter())  # no API key, secret or request signature in a log line
redact_library_logs()


class Resync(Refused):
    """Raised by ``_deliver``: the exchange's data is wrong as a whole; rebuild it from a snapshot.
    ``cause`` is what it is counted under in ``bad_by_cause`` (see ``BAD_CAUSES``)."""


class CCXTFeedBase(AsyncFeed):
    """Base of the ccxt.pro feeds: reconnects, resyncs, watchdog, stats and a clean stop.

    Subclasses set ``channel_type``/``priority`` and implement ``_watch`` and ``_deliver``.
    A feed runs once: after ``stop()`` create a new one.
    """

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
        super().__init__(latency_window)
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
        self._alive_until = 0.0  # the watchdog's deadline (time.monotonic())
        self._delivered = False  # whether the current exchange delivered anything yet
        self._restart: asyncio.Event | None = None  # set by restart(): reconnect now

    def _reported(self, error: BaseException) -> BaseException:
        return redact_error(error)  # ccxt's messages hold the signed request URL

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
        """The guard's report of a frame ccxt could not handle, or that ``_check_message`` refused."""
        self._counters.messages += 1
        self._skip_bad(data, error, error.cause if isinstance(error, Refused) else "unparseable")

    def _check_message(self, message: Any) -> Refused | None:
        """A message to refuse before ccxt handles it (guarded exchanges only), or None."""
        return None

    def _skip_bad(self, data: Any, error: Exception, cause: str = "unparseable") -> None:
        """Count ``data`` as a bad message under ``cause`` and skip it."""
        self._counters.bad(cause)
        log.warning("%r: skipped a bad message (%s, %s: %s): %.200r", self, cause, type(error).__name__, error, data)

    def _new_exchange(self, markets_from: Any = None) -> Any:
        on_bad = self._on_bad_frame if self.guard_messages else None
        exchange = create_exchange(self.exchange_id, self.config, on_bad, self._check_message)
        if markets_from is not None and markets_from.markets:
            exchange.set_markets(markets_from.markets, markets_from.currencies)
        return exchange

    def _keep_alive(self, pause: float = 0.0) -> None:
        """Push the watchdog's deadline to ``stale_timeout`` seconds after ``pause``."""
        if self.stale_timeout is not None:
            self._alive_until = time.monotonic() + pause + self.stale_timeout

    def restart(self) -> None:
        """Reconnect on a new exchange now (from any thread), counted as a watchdog restart."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and self._restart is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._restart.set)

    async def _run(self) -> None:
        """Stream from one exchange after another: a new one after each resync or watchdog."""
        counters = self._counters
        exchange = self._new_exchange()
        self._restart = asyncio.Event()
        closing: set[asyncio.Future[Any]] = set()  # replaced exchanges, closed meanwhile
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
                    log.warning("%r: stale (restarted, or nothing for %s s): reconnecting", self, self.stale_timeout)
                closing.add(_retire(exchange))
                exchange = self._new_exchange(markets_from=exchange)
                resyncs_in_a_row = resyncs_in_a_row + 1 if outcome == "resync" and not self._delivered else 0
                if resyncs_in_a_row > 1:  # the fresh snapshot did not help: slow down
                    delay = self.backoff.delay(resyncs_in_a_row - 1)
                    self._keep_alive(delay)
                    await asyncio.sleep(delay)
        finally:
            closing.add(_retire(exchange))
            await asyncio.gather(*closing, return_exceptions=True)

    async def _watch_over(self, stream: asyncio.Task[str | None]) -> str | None:
        """Wait for ``stream`` to end (its outcome, or its error), or cancel it once stale.

        A separate watchdog, not a timeout around each ``watch_*`` call: a new task per call
        would yield to the loop between two calls, and a message ccxt handles in that gap
        stays in its cache until the next one arrives.
        """
        assert self._restart is not None
        restart = asyncio.ensure_future(self._restart.wait())
        try:
            while True:
                timeout = None if self.stale_timeout is None else self._alive_until - time.monotonic()
                if restart.done() or (timeout is not None and timeout <= 0):
                    self._restart.clear()
                    return "stale"
                done, _ = await asyncio.wait((stream, restart), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if stream in done:
                    return stream.result()
        finally:
            restart.cancel()
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
        self._skip_bad(data, error, error.cause if isinstance(error, Refused) else "unparseable")
        self._counters.resyncs += 1
        log.warning("%r: resynchronising after a bad message", self)
        return "resync"


def abandon_futures(exchange: Any) -> None:
    """Mark read the pending futures of ``exchange``'s clients that nobody awaits any more
    (watches the feed cancelled, ccxt's own behind a raced watch): ccxt rejects them when the
    socket closes, and asyncio would report each as "Future exception was never retrieved"."""
    for client in list(getattr(exchange, "clients", {}).values()):
        for future in list(client.futures.values()):
            future.add_done_callback(_read_outcome)


def _retire(exchange: Any) -> asyncio.Future:
    """Close an exchange the feed is done with, its abandoned futures marked read first."""
    abandon_futures(exchange)
    return asyncio.ensure_future(exchange.close())


def _read_outcome(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
