"""A control command pre-empts a backlog of market events: it is handled after the event in
hand, before the rest of the batch the engine holds and before everything still queued.

The command is pushed from another thread while the strategy is inside a callback (a gate
the strategy waits at), so the counts are exact: nothing here depends on timing.
"""

from __future__ import annotations

import threading
import time

import backtrader as bt

from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.kinds.control import ControlCommand, control_event
from backtrader_channels.live import LiveEventQueue

SYMBOL = "BTC/USDT"
T0 = 1_767_000_000.0


def tick(i: int) -> Event:
    data = TickEvent(T0 + i * 0.001, 100.0 + i % 5, 1.0, "buy", i, SYMBOL, T0 + i * 0.001)
    return Event(data.timestamp, EventPriority.TICK, "tick", SYMBOL, data)


def backlog(n: int) -> LiveEventQueue:
    queue = LiveEventQueue(max_queue_size=n + 10)
    for i in range(1, n + 1):
        queue.push(tick(i))
    return queue


class Gated(bt.Strategy):
    """Records the trade ids it is called with, and each command with the number of trades
    the channel had then (it goes on while paused); at trade ``gate`` it waits until ``release`` is set (the test pushes commands then)."""

    params = (("gate", 3), ("inside", None), ("release", None), ("buy_at", None))

    def __init__(self):
        self.seen: list[int] = []
        self.commands: list[tuple[str, int]] = []

    def notify_control(self, command):
        self.commands.append((command, len(self.channels[("tick", SYMBOL)])))

    def notify_tick(self, tick):
        self.seen.append(tick.trade_id)
        if tick.trade_id == self.p.buy_at:
            self.buy(size=1.0)
        if tick.trade_id == self.p.gate:
            self.p.inside.set()
            assert self.p.release.wait(10)


class GatedRun:
    """A live run of ``Gated`` on ``queue`` in a thread; ``inside``: the strategy is at its gate."""

    def __init__(self, queue: LiveEventQueue, strategy: type[Gated] = Gated, **params) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.cerebro = bt.Cerebro(stdstats=False)
        self.cerebro._event_queue = queue
        self.cerebro.addstrategy(strategy, inside=self.inside, release=self.release, **params)
        self.strategies: list = []
        self.thread = threading.Thread(target=lambda: self.strategies.extend(self.cerebro.run(mode=bt.RunMode.TICK)),
                                       daemon=True)
        self.thread.start()

    def strategy(self, timeout: float) -> Gated:
        """The strategy, once the run ended (within ``timeout`` s)."""
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        (strategy,) = self.strategies
        return strategy


def push_command(queue: LiveEventQueue, command: str) -> None:
    queue.push(control_event(ControlCommand(command), "run"))


def test_a_stop_during_a_callback_ends_the_run_after_it_with_the_backlog_counted():
    queue = backlog(3000)  # the engine holds up to 512 of them in its batch
    run = GatedRun(queue)
    assert run.inside.wait(10)
    push_command(queue, "stop")  # stamped now: by time, after all 3000 trades
    run.release.set()
    strategy = run.strategy(10)
    assert strategy.seen == [1, 2, 3]  # not one trade after the stop
    assert strategy.commands == [("stop", 3)]
    live = run.cerebro._bc_engine.live
    assert live.stop_reason == "stopped"
    assert (live.received, live.unprocessed) == (3001, 2997)  # 3 trades and the stop handled


def test_pause_and_flatten_go_before_the_rest_of_the_batch_and_resume_loses_nothing():
    n = 20_000
    queue = backlog(n)
    run = GatedRun(queue, buy_at=2)  # bought on 2, filled on 3
    assert run.inside.wait(10)
    push_command(queue, "pause")
    push_command(queue, "flatten")
    run.release.set()
    deadline = time.monotonic() + 10
    while len(run.cerebro._bc_engine.channels[("tick", SYMBOL)]) < 1000:  # trades go on reaching the channel
        assert time.monotonic() < deadline
        time.sleep(0.001)
    push_command(queue, "resume")
    queue.stop()  # the run ends once the queue is drained
    strategy = run.strategy(30)
    (_, at_pause), (_, at_flatten), (resume, at_resume) = strategy.commands
    assert (at_pause, at_flatten, resume) == (3, 3, "resume")  # both right after trade 3
    assert 1000 <= at_resume < n
    # paused from trade 4 until the resume; from there every trade once, in order
    assert strategy.seen == [1, 2, 3, *range(at_resume + 1, n + 1)]
    channel = run.cerebro._bc_engine.channels[("tick", SYMBOL)]
    assert len(channel) == n
    # bought on trade 2, filled on 3 at 103; flattened at market while paused: sold on 4 at 104
    broker = run.cerebro.broker
    assert broker.getposition(channel).size == 0
    assert broker.getcash() == 10_000.0 - 103.0 + 104.0
    live = run.cerebro._bc_engine.live
    assert (live.stop_reason, live.unprocessed, live.received) == ("queue stopped", 0, n + 3)



class GatedRecording(Gated):
    """Gated, recording the fills and closed trades it is notified of, and what it had
    been notified of when its ``stop()`` ran."""

    def __init__(self):
        super().__init__()
        self.fills: list[tuple[float, float]] = []
        self.closed: list[float] = []
        self.at_stop: tuple | None = None

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((order.executed.price, order.executed.size))

    def notify_trade(self, trade):
        if trade.isclosed:
            self.closed.append(trade.pnl)

    def stop(self):
        self.at_stop = (list(self.fills), list(self.closed))


def test_a_flatten_while_paused_is_notified_and_counted_when_the_run_stops_paused():
    queue = backlog(5000)
    run = GatedRun(queue, GatedRecording, buy_at=2)  # bought on 2, filled on 3 at 103
    assert run.inside.wait(10)
    push_command(queue, "pause")
    push_command(queue, "flatten")  # a market sell of the 1 held: filled on trade 4 at 104, while paused
    run.release.set()
    deadline = time.monotonic() + 10
    while len(run.cerebro._bc_engine.channels[("tick", SYMBOL)]) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    push_command(queue, "stop")  # still paused
    strategy = run.strategy(30)
    # the flatten's fill and its closed trade (pnl 104 - 103) reach the strategy before its stop()
    assert strategy.at_stop == ([(103.0, 1.0), (104.0, -1.0)], [1.0])
    result = run.cerebro.tick_result
    assert (result.trades_closed, result.trades_won) == (1, 1)
