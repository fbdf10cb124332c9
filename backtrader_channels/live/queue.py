"""LiveEventQueue: the thread-safe, bounded, time-ordered hand-off from live feeds to the engine.

Feeds (usually on an asyncio loop in a background thread) ``push``; the engine (in the main
thread) ``pop``s events in ``(timestamp, priority, arrival)`` order until the queue is stopped
and drained.

Inside, each event gets one integer sort key, ``timestamp`` in integer nanoseconds, then
``priority`` (16 bits), then its arrival number (48 bits): the heap compares plain ints, the
fastest ordering Python has. Timestamps closer than the float's own resolution (about 0.2 µs
for today's epoch seconds) may compare equal and fall back to priority and arrival.

Overflow policy, applied when a push finds ``max_queue_size`` events queued. Nothing is lost
silently: every merge counts in ``stats.conflated``, every discarded event in ``stats.dropped``.

1. Conflate order-book updates of one ``(channel_type, channel_name)``: the incoming update
   is merged into the newest queued update of its book, else the two oldest queued updates
   of a book with several are merged into one (``merge_book_updates``: the merged update leaves
   the same book as applying both, so only intermediate book states disappear, never levels).
   The merged update keeps the *older* update's place in the queue (and its ``Event``
   timestamp; its data carries the newer book time): under sustained overload a book is never
   pushed back behind the trades that keep arriving, so the book a strategy sees lags by no
   more than the queue itself.
2. Otherwise drop the oldest event by arrival, sparing the next event ``pop`` would return
   (the most urgent), CONTROL events and order-book updates (dropping a delta would corrupt
   the book; after step 1 there is at most one queued per book).
3. Otherwise (everything queued is spared) the incoming event is dropped, unless it is itself
   a CONTROL event or a book update: those are queued over the bound, which is then exceeded
   by at most the number of books plus CONTROL events.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from heapq import heapify, heappop, heappush

from ..events import Event, EventPriority, OrderBookEvent
from .conflate import merge_book_updates

__all__ = ["LiveEventQueue", "QueueStats"]

_CONTROL = int(EventPriority.CONTROL)


@dataclass(frozen=True)
class QueueStats:
    """Counters of a ``LiveEventQueue`` at one moment."""

    pushed: int  # events accepted by push (including ones later conflated or dropped)
    popped: int  # events handed to the consumer
    conflated: int  # book updates merged into a later update of the same book
    dropped: int  # events discarded by the overflow policy
    rejected: int  # pushes refused because the queue was stopped
    high_water: int  # most events ever queued at once


def _is_book(event: Event) -> bool:
    return type(event.data) is OrderBookEvent


class LiveEventQueue:
    """Bounded priority queue of ``Event``s, safe for any number of producer threads.

    ``push`` never blocks (so an asyncio loop can call it) and stamps ``event.sequence``
    with the arrival number. ``pop``/``pop_batch`` wait for events; ``stop()`` wakes them.
    """

    def __init__(self, max_queue_size: int = 10000) -> None:
        if max_queue_size < 1:
            raise ValueError(f"max_queue_size must be >= 1, got {max_queue_size!r}")
        self.max_queue_size = max_queue_size
        self._heap: list[int] = []  # sort keys; a key missing from _live was merged or dropped
        self._live: dict[int, Event] = {}  # sort key -> queued event, in arrival order
        self._books: dict[tuple[str, str | None], deque[int]] = {}  # queued keys per book
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._waiting = 0
        self._sequence = 0
        self._stopped = False
        self._conflated = self._dropped = self._rejected = 0
        self._high_water = 0

    # -- producer side -------------------------------------------------------------------
    def push(self, event: Event) -> bool:
        """Queue ``event``; False if it was refused (queue stopped) or dropped at once.

        Raises ValueError for a NaN or infinite timestamp or a priority outside 0..65535:
        such an event has no place in the order.
        """
        priority = event.priority
        try:
            stamp = int(event.timestamp * 1e9) << 16
        except (ValueError, OverflowError):
            raise ValueError(f"cannot queue an event with timestamp {event.timestamp!r}") from None
        if priority >> 16:  # negative or above 16 bits
            raise ValueError(f"event priority must be in 0..65535, got {priority!r}")
        with self._lock:
            if self._stopped:
                self._rejected += 1
                return False
            self._sequence = sequence = self._sequence + 1
            event.sequence = sequence
            live = self._live
            size = len(live)
            if size >= self.max_queue_size:
                if not self._make_room(event):
                    return False
                size = len(live)
            key = ((stamp | priority) << 48) | sequence
            live[key] = event
            heappush(self._heap, key)
            if type(event.data) is OrderBookEvent:
                self._track_book(event, key)
            if size >= self._high_water:
                self._high_water = size + 1
            if self._waiting:
                self._ready.notify()
            return True

    def stop(self) -> None:
        """Refuse further pushes and wake every waiting consumer; queued events stay poppable."""
        with self._lock:
            self._stopped = True
            self._ready.notify_all()

    # -- consumer side -------------------------------------------------------------------
    def pop(self, timeout: float | None = 1.0) -> Event | None:
        """The most urgent event, waiting up to ``timeout`` s (None: forever) for one.

        Returns None on timeout, or at once when the queue is stopped and empty.
        """
        with self._lock:
            heap, live = self._heap, self._live
            while heap:
                event = live.pop(heappop(heap), None)
                if event is not None:
                    return event
            if timeout == 0 or not self._wait(timeout):
                return None
            while True:  # _wait saw an event queued
                event = live.pop(heappop(heap), None)
                if event is not None:
                    return event

    def pop_batch(self, max_items: int = 1000, timeout: float | None = 1.0) -> list[Event]:
        """Up to ``max_items`` events in order; waits like ``pop`` only for the first one."""
        with self._lock:
            batch: list[Event] = []
            if not self._live and (timeout == 0 or not self._wait(timeout)):
                return batch
            heap, live = self._heap, self._live
            append = batch.append
            while heap and len(batch) < max_items:
                event = live.pop(heappop(heap), None)
                if event is not None:
                    append(event)
            return batch

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def stats(self) -> QueueStats:
        with self._lock:
            pushed = self._sequence  # every push but the refused ones took an arrival number
            popped = pushed - len(self._live) - self._conflated - self._dropped
            return QueueStats(pushed, popped, self._conflated, self._dropped, self._rejected, self._high_water)

    def __len__(self) -> int:
        return len(self._live)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "open"
        return f"LiveEventQueue({len(self)}/{self.max_queue_size} queued, {state})"

    # -- internals (called with the lock held) -------------------------------------------
    def _wait(self, timeout: float | None) -> bool:
        """Wait until an event is queued (True), or until the timeout passes or stop() (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._waiting += 1
        try:
            while not self._live:
                if self._stopped:
                    return False
                if deadline is None:
                    self._ready.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._ready.wait(remaining)
            return True
        finally:
            self._waiting -= 1

    def _track_book(self, event: Event, key: int) -> None:
        book = (event.channel_type, event.channel_name)
        queued = self._books.get(book)
        if queued is None:
            queued = self._books[book] = deque()
        live = self._live
        while queued and queued[0] not in live:  # forget updates already popped
            queued.popleft()
        queued.append(key)

    def _make_room(self, incoming: Event) -> bool | None:
        """Apply the overflow policy: True if ``incoming`` is to be queued, None if it was
        merged into a queued update, False if it was dropped."""
        live = self._live
        if _is_book(incoming):
            queued = self._books.get((incoming.channel_type, incoming.channel_name))
            while queued and queued[-1] not in live:
                queued.pop()
            if queued:
                older = live[queued[-1]]
                older.data = merge_book_updates(older.data, incoming.data)
                self._conflated += 1
                return None
        for queued in self._books.values():
            pair = self._oldest_pair(queued)
            if pair is not None:
                older = live[pair[0]]
                newer = live.pop(pair[1])
                older.data = merge_book_updates(older.data, newer.data)
                self._conflated += 1
                self._compact()
                return True
        victim = self._oldest_droppable()
        if victim is not None:
            del live[victim]
            self._dropped += 1
            self._compact()
            return True
        if incoming.priority <= _CONTROL or _is_book(incoming):
            return True
        self._dropped += 1
        return False

    def _oldest_pair(self, queued: deque[int]) -> tuple[int, int] | None:
        """The two oldest still-queued keys of one book (the second leaves ``queued``)."""
        live = self._live
        while queued and queued[0] not in live:
            queued.popleft()
        if len(queued) < 2:
            return None
        first = queued.popleft()
        while queued and queued[0] not in live:
            queued.popleft()
        second = queued.popleft() if queued else None
        queued.appendleft(first)
        return None if second is None else (first, second)

    def _oldest_droppable(self) -> int | None:
        heap, live = self._heap, self._live
        while heap and heap[0] not in live:  # surface the real head
            heappop(heap)
        head = heap[0] if heap else None
        for key, event in live.items():
            if key != head and event.priority > _CONTROL and not _is_book(event):
                return key
        return None

    def _compact(self) -> None:
        """Rebuild the heap once discarded keys outnumber the queued ones."""
        heap, live = self._heap, self._live
        if len(heap) > 2 * len(live) + 64:
            heap[:] = [key for key in heap if key in live]
            heapify(heap)
