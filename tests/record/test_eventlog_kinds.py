"""The event log keeps every kind's events (trades, funding, control, own orders), and a replay of
such a log (the API and ``btchannels replay``) gives the same notifications, cash and equity."""

from __future__ import annotations

import math
import threading
import time

import backtrader as bt
import pytest

from backtrader_channels import LiveEventQueue, TickEvent
from backtrader_channels.cli import main
from backtrader_channels.kinds import ControlCommand, FundingEvent, kind_of, kind_of_data
from backtrader_channels.kinds.orders import OrderUpdate, OwnFill, StreamResumed
from backtrader_channels.record.eventlog import attach_event_log, read_log
from backtrader_channels.record.replay import _event, replay
from backtrader_channels.strategy_file import load_strategy
from backtrader_channels.testing.exchange import FakeExchange
from tests.broker.live.test_cli import BUY_ONCE_FILE

SYMBOL = "BTC/USDT"
RUN = "run-1"
T0 = 1_767_000_000.0

STRATEGY = '''
import backtrader as bt


class EveryKind(bt.Strategy):
    """Buys 1 on the first trade; notes what each callback saw."""

    def __init__(self):
        self.seen = []

    def notify_tick(self, tick):
        self.seen.append(("tick", tick.price))
        if len(self.seen) == 1:
            self.buy(size=1.0)

    def notify_funding(self, event):
        self.seen.append(("funding", event.rate))

    def notify_control(self, command):
        self.seen.append(("control", command))

    def notify_exchange(self, report):
        self.seen.append(("orders", type(report).__name__))
'''


def events() -> list:
    """A paper run's events of every kind that travels, in time order."""
    tick, funding, control, orders = (kind_of(name) for name in ("tick", "funding", "control", "orders"))
    return [
        tick.event(TickEvent(T0, 100.0, 1.0, "buy", 1, SYMBOL), SYMBOL),
        tick.event(TickEvent(T0 + 1, 101.0, 1.0, "sell", 2, SYMBOL), SYMBOL),  # the buy fills at 101
        funding.event(FundingEvent(T0 + 2, 0.001, 100.0, SYMBOL), SYMBOL),  # the long pays 1 x 100 x 0.001
        control.event(ControlCommand("pause", T0 + 3), RUN, T0 + 3),
        tick.event(TickEvent(T0 + 4, 102.0, 1.0, "buy", 3, SYMBOL), SYMBOL),  # paused: not seen
        control.event(ControlCommand("resume", T0 + 5), RUN, T0 + 5),
        orders.event(OrderUpdate(T0 + 6, SYMBOL, "bc-1", "42", "open", 0.0, "", "rest"), SYMBOL),
        orders.event(OwnFill(T0 + 6, SYMBOL, "t-1", "42", "bc-1", "buy", 101.0, 1.0, 0.101, "USDT"), SYMBOL),
        orders.event(StreamResumed(T0 + 6, SYMBOL), SYMBOL),
        tick.event(TickEvent(T0 + 7, 103.0, 1.0, "buy", 4, SYMBOL), SYMBOL),
        control.event(ControlCommand("flatten", T0 + 8), RUN, T0 + 8),  # a market sell of the 1 held
        tick.event(TickEvent(T0 + 9, 99.0, 1.0, "sell", 5, SYMBOL), SYMBOL),  # fills at 99
    ]


def one_at_a_time(queue: LiveEventQueue, sent: list) -> threading.Thread:
    """Push ``sent`` as a live run receives it, each event once the one before was taken (a
    queued control command would go ahead of queued market data), then stop the queue."""

    def push() -> None:
        for event in sent:
            queue.push(event)
            while len(queue):
                time.sleep(0.001)
        queue.stop()

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    return thread


def comparable(data: object) -> tuple:
    """An event's data as plain values (NaN as a string, so equal NaNs compare equal)."""
    names = getattr(type(data), "__slots__", None) or list(vars(data))
    return (type(data).__name__, *(("nan" if isinstance(v, float) and math.isnan(v) else v)
                                    for v in (getattr(data, name) for name in names)))


@pytest.fixture
def strategy_file(tmp_path):
    path = tmp_path / "every_kind.py"
    path.write_text(STRATEGY)
    return path


def test_a_log_of_every_kind_reads_back_and_replays_identically(tmp_path, strategy_file, capsys):
    strategy_cls = load_strategy(strategy_file)
    queue = LiveEventQueue()
    sent = events()
    feeder = one_at_a_time(queue, sent)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000.0)
    cerebro._event_queue = queue
    cerebro.addstrategy(strategy_cls)
    log_path = tmp_path / "run.events"
    log = attach_event_log(cerebro, log_path)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, validator=False)
    feeder.join(10)
    log.close()

    assert strategy.seen == [
        ("tick", 100.0), ("tick", 101.0), ("funding", 0.001), ("control", "pause"), ("control", "resume"),
        ("orders", "OrderUpdate"), ("orders", "OwnFill"), ("orders", "StreamResumed"), ("tick", 103.0),
        ("control", "flatten"), ("tick", 99.0)]
    # bought 1 at 101, paid 0.1 funding, sold 1 at 99: 1,000 - 101 - 0.1 + 99
    assert cerebro.broker.getcash() == pytest.approx(997.9)

    logged = [record for record in read_log(log_path) if record[0] == "E"]
    assert [(r[2], r[3], r[4], r[5]) for r in logged] == [
        (e.channel_type, e.channel_name, int(e.priority), e.timestamp) for e in sent]
    back = [_event(record) for record in logged]
    assert [comparable(e.data) for e in back] == [comparable(e.data) for e in sent]
    assert [kind_of_data(e.data).name for e in back] == [e.channel_type for e in sent]

    result = replay(log_path, strategy_cls)
    assert result.divergence is None
    assert (result.events, result.cash) == (len(sent), cerebro.broker.getcash())
    assert main(["replay", str(log_path), str(strategy_file)]) == 0
    # the buy and flatten's sell: each submitted, accepted, completed
    assert capsys.readouterr().out == f"identical: {len(sent)} events, 6 order notifications, cash 997.9, equity 997.9\n"


def test_a_live_run_with_the_ccxt_broker_logs_its_order_reports(tmp_path, monkeypatch, capsys):
    """``btchannels live --broker ccxt --event-log``: the user stream's reports are logged with the market data."""
    strategy = tmp_path / "buy_once.py"
    strategy.write_text(BUY_ONCE_FILE)
    log_path = tmp_path / "live.events"
    monkeypatch.chdir(tmp_path)  # the live broker keeps its run's state in ./btchannels-runs
    with FakeExchange([SYMBOL]) as exchange:
        monkeypatch.setenv("BTCHANNELS_API_KEY", exchange.api_key)
        monkeypatch.setenv("BTCHANNELS_API_SECRET", exchange.secret)
        sender = threading.Thread(target=exchange.send_trades, args=(SYMBOL, 100),
                                  kwargs={"rate": 50, "timeout": 30}, daemon=True)
        sender.start()
        status = main(["live", str(strategy), "--broker", "ccxt", "--rest-url", exchange.http_url,
                       "--ws-url", exchange.ws_url, "--duration", "30", "--event-log", str(log_path)])
    assert status == 0, capsys.readouterr()
    records = list(read_log(log_path))
    logged = [_event(record) for record in records if record[0] == "E"]
    reports = [type(event.data).__name__ for event in logged if event.channel_type == "orders"]
    # the stream subscribed (the crash this log once had); then, as timing has it, the order's
    # updates and fill as events, or found by the reconciliation the subscription starts
    assert "StreamResumed" in reports and set(reports) <= {"StreamResumed", "OrderUpdate", "OwnFill", "Reconciled"}
    assert [r[2] for r in records if r[0] == "N"][-1] == "Completed"
    assert {event.channel_type for event in logged} == {"tick", "orders"}
    assert all(kind_of_data(event.data).name == event.channel_type for event in logged)
