"""pump_feeds: run live feeds and hand their events, in batches, to a sink until stopped.

The collector (bus) and the recorder are both this loop with a different sink. It stops
on ``stop`` being set, SIGTERM/Ctrl-C (the caller's), or ``duration`` running out; then
the feeds are stopped and what they queued is drained into the sink too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..events import Event
from ..live import LiveEventQueue
from ..live.runner import FeedThread

__all__ = ["market_feeds", "pump_feeds", "stop_on_signals"]


def market_feeds(exchange_id: str, symbols: Iterable[str], queue: LiveEventQueue, *, trades: bool, book: bool,
                 config: Any, depth: int | None, purpose: str) -> list[Any]:
    """The ccxt.pro feeds of ``symbols`` (trades and/or books) pushing into ``queue``."""
    from ..feeds import CCXTLiveOrderBookFeed, CCXTLiveTickFeed

    feeds: list[Any] = []
    for symbol in symbols:
        if trades:
            feeds.append(CCXTLiveTickFeed(exchange_id, symbol, queue, config=config))
        if book:
            feeds.append(CCXTLiveOrderBookFeed(exchange_id, symbol, queue, config=config, depth=depth))
    if not feeds:
        raise ValueError(f"{purpose} needs a symbol and trades=True and/or book=True")
    return feeds


def pump_feeds(
    feeds: Sequence[Any],
    queue: LiveEventQueue,
    sink: Callable[[list[Event]], object],
    *,
    duration: float | None = None,
    stop: threading.Event | None = None,
    tick: Callable[[], None] | None = None,
    poll: float = 0.1,
) -> None:
    """Pop batches from ``queue`` (filled by ``feeds``) into ``sink``; ``tick`` runs after
    each batch or idle poll (e.g. a timed flush)."""
    stop = stop or threading.Event()
    deadline = None if duration is None else time.monotonic() + duration
    runner = FeedThread(feeds, name="btchannels-pump").start()
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            batch = queue.pop_batch(1024, timeout=poll)
            if batch:
                sink(batch)
            if tick is not None:
                tick()
            if not runner.is_alive():
                break  # every feed ended (errors are in runner.errors)
    finally:
        runner.stop()
        while batch := queue.pop_batch(1024, timeout=0):
            sink(batch)
    if runner.errors and not stop.is_set():
        raise runner.errors[0]


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or Ctrl-C while the block runs (main thread): a clean stop."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
