"""Replay an event log: the strategy again on exactly the events the live run handled.

The logged events go, in the order they were handled, through the same live engine path
(``cerebro.run(mode=TICK)`` on a queue that hands them out as logged), with a broker rebuilt
from the log's header; the replay logs itself the same way, and each event's broker
notifications, cash and equity are compared with the live run's, bit for bit. The first
difference is reported with the event it followed.
"""

from __future__ import annotations

import inspect
import io
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import backtrader as bt

from ..bus.codec import decode
from ..events import Event
from ..kinds import kind_of
from ..kinds.control import ControlCommand
from ..live.queue import QueueStats
from .eventlog import attach_event_log, read_log

__all__ = ["ReplayResult", "replay"]

_SETCOMMISSION = set(inspect.signature(bt.brokers.BackBroker.setcommission).parameters) - {"self"}


@dataclass(frozen=True)
class ReplayResult:
    """How a replay compared with its live run."""

    events: int  # events replayed
    notifications: int  # broker notifications compared
    cash: float  # after the last event, in the replay
    value: float
    divergence: str | None  # the first difference, None when identical

    @property
    def identical(self) -> bool:
        return self.divergence is None

    def summary(self) -> str:
        if self.identical:
            return (f"identical: {self.events:,} events, {self.notifications:,} order notifications, "
                    f"cash {self.cash!r}, equity {self.value!r}")
        return f"diverged: {self.divergence}"


class _LoggedQueue:
    """Hands out logged events in the order they were handled (a stopped LiveEventQueue's API)."""

    stopped = True

    def __init__(self, events: Iterable[Event]) -> None:
        self._events = deque(events)
        self._total = len(self._events)

    def pop(self, timeout: float | None = None) -> Event | None:
        return self._events.popleft() if self._events else None

    def pop_batch(self, max_items: int = 1000, timeout: float | None = None) -> list[Event]:
        events = self._events
        return [events.popleft() for _ in range(min(max_items, len(events)))]

    def control_waiting(self) -> bool:
        return False  # logged commands are already where the live run handled them

    def pop_controls(self) -> list[Event]:
        return []

    def __len__(self) -> int:
        return len(self._events)

    @property
    def stats(self) -> QueueStats:
        popped = self._total - len(self._events)
        return QueueStats(self._total, popped, 0, 0, 0, self._total)


class _Run:
    """A log split into its header, events, and what followed each event."""

    def __init__(self, records: Iterable[list], source: object) -> None:
        self.header: dict[str, Any] | None = None
        self.events: list[Event] = []
        self.after: list[list[list]] = []  # per event: its N records and its S record
        at = 1  # the record in hand, counted from 1
        try:
            for record in records:
                self._take(record)
                at += 1
        except (TypeError, ValueError, KeyError, IndexError) as error:  # garbage, or written by something else
            raise ValueError(f"{source}: record {at:,} is not an event-log record "
                             f"({type(error).__name__}: {error})") from None
        if self.header is None:
            raise ValueError(f"{source}: no header record: not an event log of a live run")

    def _take(self, record: list) -> None:
        tag = record[0]
        if tag == "H":
            if not isinstance(record[2], dict):
                raise TypeError(f"a header of {type(record[2]).__name__}")
            self.header = record[2]
        elif tag == "E":
            self.events.append(_event(record))
            self.after.append([])
        elif tag in ("N", "S") and self.after:
            self.after[-1].append(record)
        elif tag not in ("N", "S"):
            raise ValueError(f"unknown record tag {tag!r}")


def _event(record: list) -> Event:
    _, _, channel_type, channel_name, priority, timestamp, payload = record
    # a version 1 log wrote a control command as its bare string
    data = ControlCommand(payload, timestamp) if isinstance(payload, str) else decode(payload, channel_name)
    return Event(timestamp, priority, channel_type, channel_name, data)


def replay(log: str | PathLike, strategy: type[bt.Strategy], **strategy_kwargs: Any) -> ReplayResult:
    """Run ``strategy`` on the events of the event log ``log`` and compare with the live run."""
    live = _Run(read_log(log), log)
    assert live.header is not None
    cerebro = _cerebro(live.header)
    cerebro._event_queue = _LoggedQueue(live.events)
    buffer = io.BytesIO()
    attach_event_log(cerebro, buffer)
    cerebro.addstrategy(strategy, **strategy_kwargs)
    cerebro.run(mode=bt.RunMode.TICK, validator=False)
    again = _Run(read_log(io.BytesIO(buffer.getvalue())), "the replay's own log")
    divergence = _first_difference(live, again)
    last_state = next((r for r in reversed(again.after[-1]) if r[0] == "S"), None) if again.after else None
    cash, value = (last_state[1], last_state[2]) if last_state else (cerebro.broker.getcash(), cerebro.broker.getvalue())
    notifications = sum(1 for after in again.after for r in after if r[0] == "N")
    return ReplayResult(len(again.events), notifications, cash, value, divergence)


def _cerebro(header: dict[str, Any]) -> bt.Cerebro:
    cerebro = bt.Cerebro(stdstats=False)
    for channel_type, symbol in header["channels"]:  # kinds with a channel: those of the live run's channels
        channel_cls = kind_of(channel_type).channel
        assert channel_cls is not None
        cerebro.add_channel(channel_cls, symbol=symbol, on_error="skip")
    broker = cerebro.broker
    for name, value in header["params"].items():
        setattr(broker.p, name, value)
    broker.setcash(header["cash"])
    broker.setcommission(**{k: v for k, v in header["commission"].items() if k in _SETCOMMISSION})
    return cerebro


def _first_difference(live: _Run, again: _Run) -> str | None:
    for index, (event, expected) in enumerate(zip(live.events, live.after)):
        if index >= len(again.events):
            return f"the replay stopped after {index:,} events; the live run went on to {_describe(index, event)}"
        got = again.after[index]
        if got != expected:
            for k in range(max(len(got), len(expected))):
                want = expected[k] if k < len(expected) else None
                have = got[k] if k < len(got) else None
                if want != have:
                    return f"after {_describe(index, event)}: live {_record(want)}, replay {_record(have)}"
    if len(again.events) > len(live.events):
        return f"the replay handled {len(again.events):,} events, the live run {len(live.events):,}"
    return None


def _describe(index: int, event: Event) -> str:
    data = event.data
    what = f", trade {data.trade_id}" if getattr(data, "trade_id", None) is not None else ""
    if isinstance(data, ControlCommand):
        what = f", {data.command!r}"
    return f"event #{index + 1} ({event.channel_type} {event.channel_name} at {event.timestamp!r}{what})"


def _record(record: Sequence | None) -> str:
    if record is None:
        return "nothing"
    if record[0] == "S":
        return f"cash {record[1]!r} equity {record[2]!r}"
    _, order, status, is_buy, _, size, price, done, done_price, comm = record
    return (f"order {order} {'buy' if is_buy else 'sell'} {size!r} @ {price!r} {status} "
            f"(executed {done!r} @ {done_price!r}, commission {comm!r})")
