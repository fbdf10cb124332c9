"""Control commands reaching a live run: over the bus (real Redis) and a local Unix socket."""

from __future__ import annotations

import threading
import time

import backtrader as bt
import pytest

from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.bus import BusFeed, BusPublisher, add_control, send_command, send_local
from backtrader_channels.kinds.control import ControlCommand, control_event
from backtrader_channels.live import LiveEventQueue

SYMBOL = "BTC/USDT"
T0 = 1_767_000_000.0


def tick(i: int, price: float) -> Event:
    data = TickEvent(T0 + i, price, 1.0, "buy", i, SYMBOL, T0 + i)
    return Event(data.timestamp, EventPriority.TICK, "tick", SYMBOL, data)


class Controlled(bt.Strategy):
    def __init__(self):
        self.seen = []
        self.commands = []
        self.fills = []

    def notify_control(self, command):
        self.commands.append(command)

    def notify_tick(self, tick):
        self.seen.append(tick.trade_id)
        if tick.trade_id == 2:
            self.buy(size=1.0)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((order.isbuy(), order.executed.price, self.event_time))


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.005)


def start_run(cerebro: bt.Cerebro) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.extend(cerebro.run(mode=bt.RunMode.TICK)), daemon=True)
    thread.start()
    return thread, out


def test_pause_flatten_resume_stop_over_the_bus(redis_server):
    url = redis_server.url
    publisher = BusPublisher(url)
    queue = LiveEventQueue()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000.0)
    channel = cerebro.add_live_feed(BusFeed(url, "tick", SYMBOL, queue, group="ctl-test"))
    add_control(cerebro, "run-1", bus=url)
    cerebro.addstrategy(Controlled)
    thread, out = start_run(cerebro)
    wait_for(lambda: all(feed.running for feed in cerebro._bc_live_feeds))
    time.sleep(0.2)  # both feeds are reading
    publisher.publish([tick(i, 100.0 + i) for i in range(1, 5)])  # buy on 2, filled on 3 at 103
    wait_for(lambda: len(channel) == 4)
    send_command(url, "run-1", "pause")
    wait_for(lambda: cerebro._bc_engine and cerebro._bc_engine.paused)
    publisher.publish([tick(i, 100.0 + i) for i in range(5, 8)])
    wait_for(lambda: len(channel) == 7)  # the channel follows the market while paused
    send_command(url, "run-1", "flatten")  # close the position while paused: a sell at market
    # (each command is waited for: a command goes before every trade already queued)
    wait_for(lambda: "flatten" in cerebro._bc_engine.strategies[0].commands)
    publisher.publish([tick(8, 90.0)])  # the sell fills here; its notification is held
    wait_for(lambda: len(channel) == 8)
    send_command(url, "run-1", "resume")
    wait_for(lambda: "resume" in cerebro._bc_engine.strategies[0].commands)
    publisher.publish([tick(9, 95.0)])
    wait_for(lambda: len(channel) == 9)
    send_command(url, "run-1", "stop")
    thread.join(10)
    assert not thread.is_alive()
    (strategy,) = out
    assert strategy.commands == ["pause", "flatten", "resume", "stop"]
    assert strategy.seen == [1, 2, 3, 4, 9]  # not called while paused
    assert strategy.fills == [(True, 103.0, T0 + 3), (False, 90.0, T0 + 8)]
    assert cerebro.broker.getposition(channel).size == 0
    assert cerebro.broker.getcash() == pytest.approx(100_000.0 - 103.0 + 90.0)
    assert cerebro._bc_engine.live.stop_reason == "stopped"


def test_a_stop_on_the_local_socket_interrupts_a_run_waiting_for_data(tmp_path):
    queue = LiveEventQueue()
    queue.push(tick(1, 100.0))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    path = tmp_path / "ctl.sock"
    (socket_feed,) = add_control(cerebro, "run-2", socket_path=path)
    cerebro.addstrategy(Controlled)
    thread, out = start_run(cerebro)
    wait_for(path.exists)
    with pytest.raises(ValueError, match="unknown control command 'halt'"):
        send_local(path, "halt")
    time.sleep(0.3)  # the run is idle, waiting for data
    send_local(path, "stop")
    thread.join(5)
    assert not thread.is_alive()
    (strategy,) = out
    assert strategy.commands == ["stop"] and strategy.seen == [1]
    assert socket_feed.stats.bad_messages == 1
    assert not path.exists()  # the socket is removed when the run ends


def test_a_queued_command_goes_before_every_queued_market_event():
    queue = LiveEventQueue()
    queue.push(tick(0, 99.0))
    queue.push(tick(1, 100.0))
    stop = control_event(ControlCommand("stop"), "run-3")
    stop.timestamp = T0 + 5  # stamped after every trade queued (a command is stamped on arrival)
    queue.push(stop)
    queue.push(tick(2, 101.0))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    cerebro.addstrategy(Controlled)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert strategy.seen == [] and strategy.commands == ["stop"]
    assert cerebro._bc_engine.live.unprocessed == 3


class Slow(bt.Strategy):
    """A strategy slower than the market: each trade takes it 0.2 s."""

    def __init__(self):
        self.started: list[float] = []  # when each notify_tick began (monotonic)
        self.commands: list[str] = []

    def notify_control(self, command):
        self.commands.append(command)

    def notify_tick(self, tick):
        self.started.append(time.monotonic())
        time.sleep(0.2)


def begun_after(strategy: Slow, moment: float) -> int:
    """Trades whose callback began after ``moment``: once a command is queued, the engine
    handles it at the next event boundary, so none (the trade in hand finishes first)."""
    return sum(1 for started in strategy.started if started > moment)


def stopped_at_the_next_trade(thread, out, cerebro, pushed: float) -> None:
    """The run ended on the stop pushed at ``pushed``: no trade begun after it, the other
    queued trades of the 3,000 counted as received and not handled."""
    thread.join(10)
    assert not thread.is_alive()
    (strategy,) = out
    assert begun_after(strategy, pushed) == 0 and strategy.commands == ["stop"]
    live = cerebro._bc_engine.live
    assert live.stop_reason == "stopped"
    assert live.unprocessed == 3000 - len(strategy.started) >= 2990


def test_a_stop_on_the_socket_preempts_a_backlog_behind_a_slow_strategy(tmp_path):
    queue = LiveEventQueue()
    for i in range(1, 3001):
        queue.push(tick(i, 100.0))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    path = tmp_path / "ctl.sock"
    add_control(cerebro, "run-4", socket_path=path)
    cerebro.addstrategy(Slow)
    thread, out = start_run(cerebro)
    wait_for(lambda: cerebro._bc_engine and len(cerebro._bc_engine.strategies[0].started) >= 2)
    send_local(path, "stop")  # answered once the command is on the queue
    pushed = time.monotonic()
    stopped_at_the_next_trade(thread, out, cerebro, pushed)


def test_a_stop_over_the_bus_preempts_a_backlog_behind_a_slow_strategy(redis_server):
    url = redis_server.url
    queue = LiveEventQueue()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_live_feed(BusFeed(url, "tick", SYMBOL, queue, group="slow"))
    add_control(cerebro, "run-5", bus=url)
    cerebro.addstrategy(Slow)
    thread, out = start_run(cerebro)
    wait_for(lambda: all(feed.running for feed in cerebro._bc_live_feeds))
    time.sleep(0.2)  # both feeds are reading
    BusPublisher(url).publish([tick(i, 100.0) for i in range(1, 3001)])
    wait_for(lambda: queue.stats.pushed == 3000)  # the backlog: in the engine's batch and the queue
    wait_for(lambda: len(cerebro._bc_engine.strategies[0].started) >= 2)
    send_command(url, "run-5", "stop")
    wait_for(lambda: queue.control_waiting() or not thread.is_alive())
    pushed = time.monotonic()  # the ControlFeed pushed the command by now
    stopped_at_the_next_trade(thread, out, cerebro, pushed)
