"""LiveEventQueue against a plain model of its documented order and overflow policy.

The queue keeps CONTROL events in a lane of their own, in-order market arrivals in a deque
and late ones in a heap; the model keeps one list and takes its minimum (CONTROL events by
arrival before everything else). Any mix of pushes (ties, late arrivals, CONTROL events, an
overflowing bound), pops and batch pops must give the same events, in the same order, and
the same counts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.live import LiveEventQueue

PRIORITIES = (EventPriority.CONTROL, EventPriority.ORDERBOOK, EventPriority.TICK)


class Model:
    """The order (timestamp, priority, arrival) and the policy for non-book events, by brute force."""

    def __init__(self, bound: int) -> None:
        self.bound, self.queued, self.arrivals, self.dropped = bound, [], 0, 0

    @staticmethod
    def key(event: Event) -> tuple:
        return (event.timestamp, event.priority, event.sequence)

    @staticmethod
    def pop_key(event: Event) -> tuple:
        if event.priority == EventPriority.CONTROL:
            return (0, event.sequence)
        return (1, *Model.key(event))

    def push(self, event: Event) -> bool:
        self.arrivals += 1
        event.sequence = self.arrivals
        if len(self.queued) >= self.bound:
            market = [queued for queued in self.queued if queued.priority > EventPriority.CONTROL]
            head = min(market, key=self.key) if market else None
            droppable = [queued for queued in market if queued is not head]
            if droppable:
                self.queued.remove(min(droppable, key=lambda queued: queued.sequence))
                self.dropped += 1
            elif event.priority > EventPriority.CONTROL:
                self.dropped += 1
                return False
        self.queued.append(event)
        return True

    def pop(self) -> Event | None:
        if not self.queued:
            return None
        head = min(self.queued, key=self.pop_key)
        self.queued.remove(head)
        return head


def event(timestamp: float, priority: int) -> Event:
    return Event(timestamp, priority, "tick", "BTC/USDT", TickEvent(timestamp, 100.0, 1.0, "buy"))


operation = st.one_of(
    st.tuples(st.just("push"), st.integers(0, 12).map(lambda t: 1_735_689_600.0 + t / 4), st.sampled_from(PRIORITIES)),
    st.tuples(st.just("pop")),
    st.tuples(st.just("batch"), st.integers(1, 5)),
)


@settings(max_examples=300, deadline=None)
@given(bound=st.integers(1, 8), operations=st.lists(operation, max_size=60))
def test_queue_pops_what_the_model_pops(bound, operations):
    queue, model = LiveEventQueue(max_queue_size=bound), Model(bound)
    for op in operations:
        if op[0] == "push":
            mine, theirs = event(op[1], op[2]), event(op[1], op[2])
            assert queue.push(mine) == model.push(theirs)
        elif op[0] == "pop":
            got, expected = queue.pop(timeout=0), model.pop()
            assert (got and Model.key(got)) == (expected and Model.key(expected))
        else:
            got = queue.pop_batch(op[1], timeout=0)
            expected = [e for e in (model.pop() for _ in range(op[1])) if e is not None]
            assert [Model.key(e) for e in got] == [Model.key(e) for e in expected]
    rest, expected = [], []
    while (got := queue.pop(timeout=0)) is not None:
        rest.append(Model.key(got))
    while (theirs := model.pop()) is not None:
        expected.append(Model.key(theirs))
    assert rest == expected
    stats = queue.stats
    assert (stats.pushed, stats.dropped) == (model.arrivals, model.dropped)
    assert stats.popped == stats.pushed - stats.dropped
