"""LiveEventQueue: the thread-safe, bounded, time-ordered hand-off from live feeds to the engine.

Feeds (usually on an asyncio loop in a background thread) ``push``; the engine (in the main
thread) ``pop``s events until the queue is stopped and drained: CONTROL events first, in
arrival order, whatever their timestamps (a command is stamped when it arrives, so by time
it would wait behind every queued market event: a backlog of them); then market events in
``(timestamp, priority, arrival)`` order. ``control_waiting()`` tells the consumer, without
the lock, that a command is waiting; ``pop_controls()`` takes the waiting commands alone.

Inside, queued events are known by their arrival number. CONTROL events have a lane of
their own, a deque. Most market events arrive in order (a feed's own events do), so an
event that sorts after every market event queued so far joins the tail of an ordered deque
of arrival numbers (append and popleft, no comparisons); a late one goes into a heap of
``(timestamp, priority, arrival)``, and ``pop`` takes the more urgent of the two heads. Each
push and pop takes the lock once, the cost that dominates.

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
2. Otherwise drop the oldest event by arrival, sparing the most urgent market event (the
   next one ``pop`` returns after the commands), CONTROL events, execution reports (priority
   ORDERS: an exchange's word on the run's orders is never sent again) and order-book updates
   (dropping a delta would corrupt the book; after step 1 there is at most one queued per book).
3. Otherwise (everything queued is spared) the incoming event is dropped, unless it is itself
   a CONTROL event, an execution report or a book update: those are queued over the bound,
   which is then exceeded by at most the number of books plus those events.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from heapq import heapify, heappop, heappush

from ..events import Event, EventPriority, OrderBookEvent
from .conflate import merge_book_updates

__all__ = ["LiveEventQueue", "QueueStats"]

_CONTROL = int(EventPriority.CONTROL)
_ORDERS = int(EventPriority.ORDERS)
_isfinite = math.isfinite


@dataclass(frozen=True)
class QueueStats:
    """Counters of a ``LiveEventQueue`` at one moment."""

    pushed: int  # events accepted by push (including ones later conflated or dropped)
    popped: int  # events handed to the consumer
    conflated: int  # book updates merged into a later update of the same book
    dropped: int  # events discarded by the overflow policy
    rejected: int  # pushes refused because the queue was stopped
    high_water: int  # most events ever queued at once


def _spared(event: Event) -> bool:
    """Never dropped by the overflow policy: commands, execution reports, book updates."""
    return event.priority <= _CONTROL or event.priority == _ORDERS or _is_book(event)


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
        # Arrival numbers; one missing from _live was merged or dropped (pop skips it).
        self._live: dict[int, Event] = {}  # arrival number -> queued event, in arrival order
        self._ordered: deque[int] = deque()  # events that arrived in order, most urgent first
        self._tail_time, self._tail_priority = -math.inf, 0  # of the newest event in _ordered
        self._control: deque[int] = deque()  # CONTROL events, in arrival order (never dropped)
        self._late: list[tuple[float, int, int]] = []  # a heap of the others' sort keys
        self._books: dict[tuple[str, str | None], deque[int]] = {}  # queued arrival numbers per book
        self._lock = threading.Lock()
        # push and pop call these rather than ``with self._lock``: the context-manager
        # protocol costs about as much again as the lock itself, on every event
        self._acquire, self._release = self._lock.acquire, self._lock.release
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
        timestamp, priority = event.timestamp, event.priority
        if not _isfinite(timestamp):
            raise ValueError(f"cannot queue an event with timestamp {timestamp!r}")
        if priority >> 16:  # negative or above 16 bits
            raise ValueError(f"event priority must be in 0..65535, got {priority!r}")
        self._acquire()
        try:
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
            live[sequence] = event
            ordered = self._ordered
            tail = self._tail_time
            if not priority:  # CONTROL: its own lane
                self._control.append(sequence)
            elif timestamp > tail or not ordered or (timestamp == tail and priority >= self._tail_priority):
                ordered.append(sequence)
                self._tail_time, self._tail_priority = timestamp, priority
            else:
                heappush(self._late, (timestamp, priority, sequence))
            if type(event.data) is OrderBookEvent:
                self._track_book(event, sequence)
            if size >= self._high_water:
                self._high_water = size + 1
            if self._waiting:
                self._ready.notify()
            return True
        finally:
            self._release()

    def stop(self) -> None:
        """Refuse further pushes and wake every waiting consumer; queued events stay poppable."""
        with self._lock:
            self._stopped = True
            self._ready.notify_all()

    # -- consumer side -------------------------------------------------------------------
    def pop(self, timeout: float | None = 1.0) -> Event | None:
        """The oldest CONTROL event, else the most urgent market event, waiting up to
        ``timeout`` s (None: forever) for one.

        Returns None on timeout, or at once when the queue is stopped and empty.
        """
        self._acquire()
        try:
            ordered = self._ordered
            if ordered and not self._late and not self._control:  # the usual case: the oldest in-order event
                event = self._live.pop(ordered.popleft(), None)
                if event is not None:
                    return event
            event = self._pop_most_urgent()
            if event is not None or timeout == 0 or not self._wait(timeout):
                return event
            return self._pop_most_urgent()  # _wait saw an event queued
        finally:
            self._release()

    def pop_batch(self, max_items: int = 1000, timeout: float | None = 1.0) -> list[Event]:
        """Up to ``max_items`` events in ``pop``'s order (CONTROL events first); waits like
        ``pop`` only for the first one."""
        self._acquire()
        try:
            batch: list[Event] = []
            if not self._live and (timeout == 0 or not self._wait(timeout)):
                return batch
            ordered, late, live, control = self._ordered, self._late, self._live, self._control
            take, append = self._pop_most_urgent, batch.append
            while control and len(batch) < max_items:
                append(live.pop(control.popleft()))
            if not late:  # the usual case: in-order events only
                while ordered and len(batch) < max_items:
                    event = live.pop(ordered.popleft(), None)
                    if event is not None:
                        append(event)
            while len(batch) < max_items:
                event = take()
                if event is None:
                    break
                append(event)
            return batch
        finally:
            self._release()

    def control_waiting(self) -> bool:
        """Whether a CONTROL event is queued: a check without the lock, cheap enough for the
        consumer to make after every event it handles."""
        return bool(self._control)

    def pop_controls(self) -> list[Event]:
        """Every queued CONTROL event, oldest first, without waiting; market events stay queued."""
        self._acquire()
        try:
            control, live = self._control, self._live
            taken = [live.pop(sequence) for sequence in control]
            control.clear()
            return taken
        finally:
            self._release()

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
    def _head(self) -> int | None:
        """The arrival number of the most urgent queued market event, dropping dead entries on the way."""
        ordered, late, live = self._ordered, self._late, self._live
        while ordered and ordered[0] not in live:
            ordered.popleft()
        while late and late[0][2] not in live:
            heappop(late)
        if not late:
            return ordered[0] if ordered else None
        if ordered:
            first = live[ordered[0]]
            if (first.timestamp, first.priority, ordered[0]) < late[0]:
                return ordered[0]
        return late[0][2]

    def _pop_most_urgent(self) -> Event | None:
        """Remove and return the oldest CONTROL event, else the most urgent market event
        (None if none is queued)."""
        control = self._control
        if control:
            return self._live.pop(control.popleft())
        head = self._head()
        if head is None:
            return None
        ordered = self._ordered
        if ordered and ordered[0] == head:
            ordered.popleft()
        else:
            heappop(self._late)
        return self._live.pop(head)

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

    def _track_book(self, event: Event, sequence: int) -> None:
        book = (event.channel_type, event.channel_name)
        queued = self._books.get(book)
        if queued is None:
            queued = self._books[book] = deque()
        live = self._live
        while queued and queued[0] not in live:  # forget updates already popped
            queued.popleft()
        queued.append(sequence)

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
        if _spared(incoming):
            return True
        self._dropped += 1
        return False

    def _oldest_pair(self, queued: deque[int]) -> tuple[int, int] | None:
        """The two oldest still-queued arrival numbers of one book (the second leaves ``queued``)."""
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
        head = self._head()
        for sequence, event in self._live.items():
            if sequence != head and not _spared(event):
                return sequence
        return None

    def _compact(self) -> None:
        """Forget discarded arrival numbers once they outnumber the queued events."""
        ordered, late, live = self._ordered, self._late, self._live
        if len(ordered) + len(late) > 2 * len(live) + 64:
            kept = [sequence for sequence in ordered if sequence in live]
            ordered.clear()
            ordered.extend(kept)
            late[:] = [key for key in late if key[2] in live]
            heapify(late)
