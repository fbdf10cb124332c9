"""The live side of the engine: consume a LiveEventQueue until the run is stopped.

Events pass the LiveDataValidator (rejected ones are counted, never reach strategy or
broker), then take the same steps as a backtest: channel, broker (paper fills by the
backtest rules), strategy. The run ends on ``cerebro.runstop()`` (also from a strategy),
Ctrl-C, SIGTERM, the ``duration`` running out, the queue being stopped and drained, or a
feed dying (an unknown symbol, refused credentials: ``session.failure`` says which); feeds
the run started are stopped and joined either way. A run that received no event says so
in ``session.failure`` too, and the ``btchannels live`` command exits non-zero on either.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..broker.channel_broker import LiveContext
from ..kinds import KINDS

if TYPE_CHECKING:
    from ..live import LiveDataValidator, LiveEventQueue
    from .engine import TickEngine

__all__ = ["LiveSession", "run_live"]

BATCH = 512
POLL_SECONDS = 0.1


class LiveSession:
    """What a live run is made of, and what it counted."""

    def __init__(self, queue: LiveEventQueue, feeds: list, validator: LiveDataValidator | None,
                 duration: float | None, start_feeds: Callable[[], Any] | None = None) -> None:
        """``start_feeds()`` starts ``feeds`` in the background and returns a handle to ``stop()``.
        ``sink_for(engine)``, when set, gives what is called after each handled event (the
        event log, feeds that acknowledge handled events), or None."""
        self.queue = queue
        self.feeds = feeds
        self.start_feeds = start_feeds
        self.sink_for: Callable[[Any], Callable[[Any], None] | None] | None = None
        self.validator = validator
        self.duration = duration
        self.rejected = 0
        self.unknown = 0
        self.started_at = time.monotonic()
        self.stop_reason = ""
        self.first: Any = None  # an event popped before the run to learn its symbol
        self.unprocessed = 0  # received but not handled when the run stopped
        self.feed_errors: list[str] = []  # "feed: error" of each feed that died
        self.interrupted = False  # Ctrl-C asked the run to stop
        self.consuming = False  # handling events (a second Ctrl-C then interrupts)
        self.extra_rows: list[tuple[str, str]] = []  # the live broker's summary

    def anomaly_report(self) -> dict:
        return self.validator.get_anomaly_report() if self.validator is not None else {}

    def anomalies(self) -> int:
        return self.validator.total() if self.validator is not None else 0

    @property
    def received(self) -> int:
        """Events that reached the queue."""
        return self.queue.stats.pushed

    @property
    def failure(self) -> str | None:
        """Why the run failed (a feed died, or no event arrived at all), None if it did not."""
        if self.feed_errors:
            return "feed failed: " + "; ".join(self.feed_errors)
        if not self.received:
            return "no event arrived (check the symbol, the exchange URLs and the network)"
        return None

    def dead_feeds(self) -> list[str]:
        """Record the feeds that died since the last call; their errors, for the stop reason."""
        dead = [f"{feed!r}: {type(feed.error).__name__}: {feed.error}" for feed in self.feeds if feed.error is not None]
        self.feed_errors = dead
        return dead

    def rows(self) -> list[tuple[str, str]]:
        """Summary rows: why the run stopped, what was refused or lost, feed health."""
        queue = self.queue.stats
        rows = [
            ("live run", f"{time.monotonic() - self.started_at:,.1f} s, ended: {self.stop_reason}"),
            ("rejected by validator", f"{self.rejected:,}"),
            ("events received", f"{self.received:,}" + ("" if self.received else " (no event arrived)")),
            ("received, not handled at stop", f"{self.unprocessed:,}"),
            ("queue dropped / conflated", f"{queue.dropped:,} / {queue.conflated:,}"),
        ]
        for (channel_type, name), kinds in sorted(self.anomaly_report().items()):
            rows += [(f"anomaly {channel_type} {name}", ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))]
        for feed in self.feeds:
            stats = feed.stats
            latency = (
                f", latency p50 {1e3 * stats.latency_p50:.1f} ms p99 {1e3 * stats.latency_p99:.1f} ms"
                if stats.latency_p50 is not None else ""
            )
            causes = ", ".join(f"{cause} {count:,}" for cause, count in sorted(stats.bad_by_cause.items()))
            overflowed = f", {stats.overflowed_trades:,} lost in ccxt's cache" if stats.overflowed_trades else ""
            rows.append((f"feed {feed.channel_type} {feed.symbol}",
                         f"{stats.messages:,} messages, {stats.reconnects} reconnects, {stats.resyncs} resyncs, "
                         f"{stats.bad_messages} bad{f' ({causes})' if causes else ''}, {stats.duplicates} duplicates, "
                         f"{stats.missed_trades} missed{overflowed}, {stats.id_epochs} id epochs{latency}"))
            if feed.error is not None:
                rows.append((f"feed error {feed.channel_type} {feed.symbol}", f"{type(feed.error).__name__}: {feed.error}"))
            elif feed.last_error is not None:
                rows.append((f"feed failures {feed.channel_type} {feed.symbol}",
                             f"{stats.failures}, kept going; last: {type(feed.last_error).__name__}: {feed.last_error}"))
        return rows + self.extra_rows


@contextlib.contextmanager
def _stop_signals(cerebro: Any, session: LiveSession):
    """While the run lasts (main thread only), SIGTERM and Ctrl-C ask it to stop after the
    event being handled, so every event received is handled or counted. A second Ctrl-C
    while an event is still being handled (a stuck strategy) interrupts it; once the run is
    stopping (closing its feeds), further Ctrl-Cs are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if not session.interrupted:
            session.interrupted = True
            cerebro.runstop()
        elif session.consuming:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: cerebro.runstop())
    previous_int = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def run_live(engine: TickEngine, session: LiveSession) -> None:
    """Pop, validate and step events until the run stops.

    The broker's ``start_live(context)`` runs before the feeds start (a live broker connects
    there) and its ``stop_live()`` once the run stops (a live broker's kill switch); its
    ``summary()`` rows join the session's.
    """
    broker = engine.broker
    broker.start_live(LiveContext(session.queue, session.feeds.append, lambda: engine.strategies[0]))
    feed_thread = session.start_feeds() if session.start_feeds is not None else None
    deadline = None if session.duration is None else session.started_at + session.duration
    with _stop_signals(engine.cerebro, session):
        try:
            session.consuming = True
            session.stop_reason = _consume(engine, session, deadline)
        except KeyboardInterrupt:
            session.stop_reason = "interrupted"
        finally:
            session.consuming = False
            if session.interrupted:
                session.stop_reason = "interrupted"
            broker.stop_live()
            engine.deliver_held()
            session.extra_rows = broker.summary()
            if feed_thread is not None:
                feed_thread.stop()
                session.dead_feeds()


def _consume(engine: TickEngine, session: LiveSession, deadline: float | None) -> str:
    """Handle batches of events until the run stops. A control command waiting in the queue
    is handled after the event in hand, before the rest of the batch, so a ``stop`` ends the
    run at the next event boundary. Interrupted (KeyboardInterrupt), it counts what is left,
    from the event being handled on, before re-raising."""
    queue, validator = session.queue, session.validator
    control_waiting, pop_controls = queue.control_waiting, queue.pop_controls
    pending = [session.first] if session.first is not None else []
    feeds = session.feeds
    sink = session.sink_for(engine) if session.sink_for is not None else None
    batch: list = []
    done = 0  # events of the batch handled, or rejected and counted
    try:
        while True:
            if engine.stopping or (deadline is not None and time.monotonic() >= deadline):
                session.unprocessed = len(queue)
                return "stopped" if engine.stopping else "duration"
            if feeds and any(feed.error is not None for feed in feeds):
                session.unprocessed = len(queue)
                return "feed failed: " + "; ".join(session.dead_feeds())
            if engine.on_clock():  # bars close on the clock, not when the next trade arrives
                session.unprocessed = len(queue)
                return "stopped"
            batch, done = [], 0
            batch, pending = pending or queue.pop_batch(BATCH, timeout=POLL_SECONDS), []
            if not batch:
                if queue.stopped and not len(queue):
                    return "queue stopped"
                continue
            while done < len(batch):
                event = batch[done]
                kind = KINDS.get(event.channel_type)
                checked = kind is None or kind.market_data
                if validator is not None and checked and not validator.validate(event):
                    session.rejected += 1
                    done += 1
                else:
                    stop = engine.live_step(event)
                    done += 1
                    if sink is not None:
                        sink(event)
                    if stop:
                        session.unprocessed = len(batch) - done + len(queue)
                        return "stopped"
                if control_waiting():  # commands go next; the rest of the batch waits
                    batch[done:done] = pop_controls()
    except KeyboardInterrupt:
        session.unprocessed = len(batch) - done + len(queue)
        raise
