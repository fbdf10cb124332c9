"""The live side of the engine: consume a LiveEventQueue until the run is stopped.

Events pass the LiveDataValidator (rejected ones are counted, never reach strategy or
broker), then take the same steps as a backtest: channel, broker (paper fills by the
backtest rules), strategy. The run ends on ``cerebro.runstop()`` (also from a strategy),
Ctrl-C, SIGTERM, the ``duration`` running out, or the queue being stopped and drained;
feeds the run started are stopped and joined either way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from ..bus.commands import CONTROL_CHANNEL, handle_control
from ..record.sink import event_sink

if TYPE_CHECKING:
    from ..live import LiveDataValidator, LiveEventQueue
    from .engine import TickEngine

__all__ = ["LiveSession", "run_live"]

BATCH = 512
POLL_SECONDS = 0.1


class LiveSession:
    """What a live run is made of, and what it counted."""

    def __init__(self, queue: LiveEventQueue, feeds: list, validator: LiveDataValidator | None,
                 duration: float | None) -> None:
        self.queue = queue
        self.feeds = feeds
        self.validator = validator
        self.duration = duration
        self.rejected = 0
        self.unknown = 0
        self.started_at = time.monotonic()
        self.stop_reason = ""
        self.first: Any = None  # an event popped before the run to learn its symbol
        self.unprocessed = 0  # received but not handled when the run stopped

    def anomaly_report(self) -> dict:
        return self.validator.get_anomaly_report() if self.validator is not None else {}

    def rows(self) -> list[tuple[str, str]]:
        """Summary rows: why the run stopped, what was refused or lost, feed health."""
        queue = self.queue.stats
        rows = [
            ("live run", f"{time.monotonic() - self.started_at:,.1f} s, ended: {self.stop_reason}"),
            ("rejected by validator", f"{self.rejected:,}"),
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
            rows.append((f"feed {feed.channel_type} {feed.symbol}",
                         f"{stats.messages:,} messages, {stats.reconnects} reconnects, {stats.resyncs} resyncs, "
                         f"{stats.bad_messages} bad, {stats.duplicates} duplicates, {stats.missed_trades} missed{latency}"))
        return rows


@contextlib.contextmanager
def _sigterm_stops(cerebro: Any):
    """While the run lasts, SIGTERM asks it to stop (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: cerebro.runstop())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_live(engine: TickEngine, session: LiveSession) -> None:
    """Pop, validate and step events until the run stops."""
    cerebro = engine.cerebro
    feed_thread = None
    if session.feeds:
        from ..feeds import FeedThread

        feed_thread = FeedThread(session.feeds).start()
    deadline = None if session.duration is None else session.started_at + session.duration
    try:
        with _sigterm_stops(cerebro):
            session.stop_reason = _consume(engine, session, deadline)
    except KeyboardInterrupt:
        session.stop_reason = "interrupted"
        session.unprocessed = len(session.queue)
    finally:
        if feed_thread is not None:
            feed_thread.stop()


def _consume(engine: TickEngine, session: LiveSession, deadline: float | None) -> str:
    cerebro, queue, validator = engine.cerebro, session.queue, session.validator
    pending = [session.first] if session.first is not None else []
    sink = event_sink(engine)
    while True:
        if cerebro._event_stop or (deadline is not None and time.monotonic() >= deadline):
            session.unprocessed = len(queue)
            return "stopped" if cerebro._event_stop else "duration"
        batch, pending = pending or queue.pop_batch(BATCH, timeout=POLL_SECONDS), []
        if not batch:
            if queue.stopped and not len(queue):
                return "queue stopped"
            continue
        for handled, event in enumerate(batch, 1):
            if event.channel_type == CONTROL_CHANNEL:
                stop = handle_control(engine, event)
            elif validator is not None and not validator.validate(event):
                session.rejected += 1
                continue
            else:
                stop = engine.live_step(event)
            if sink is not None:
                sink(event)
            if stop:
                session.unprocessed = len(batch) - handled + len(queue)
                return "stopped"
