"""EventLog: what a live run handled, in order, with what its broker did (docs/recording.md).

A file of msgpack records, appended and flushed after each event (a crash loses at most
the record being written; readers stop at a truncated tail):

- ``["H", version, header]``: broker cash and settings, commission, channels in order;
- ``["E", handled_at, channel_type, channel_name, priority, timestamp, payload]``: an event
  as the engine handled it (``payload``: its data in the bus encoding, by its kind's codec:
  trades, book updates, funding, control commands, own orders and fills), ``handled_at``
  the local wall time;
- ``["N", order, status, is_buy, exectype, size, price, executed_size, executed_price, commission]``:
  a broker notification during that event (``order``: 0 for the run's first order, 1, ...);
- ``["S", cash, value]``: the broker's cash and equity after the event.

Floats are msgpack float64, so everything reads back bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from ..extras import missing_extra

try:
    import msgpack
except ImportError as error:
    raise missing_extra("record", "the event log", error) from error

from .. import seam
from ..bus.codec import encode
from ..events import Event

__all__ = ["EventLog", "attach_event_log", "broker_header", "read_log"]

VERSION = 2  # 1: a control command's payload was its bare string


def _scalars(params: Any) -> dict[str, Any]:
    return {k: v for k, v in seam.param_values(params).items() if v is None or isinstance(v, (bool, int, float, str))}


def broker_header(broker: Any) -> dict[str, Any]:
    """Cash, scalar settings and default commission of a broker: enough to rebuild it."""
    return {"cash": seam.starting_cash(broker), "params": _scalars(broker.p),
            "commission": _scalars(seam.commissions(broker)[None].p)}


class EventLog:
    """Writes the event log of one live run (``attach_event_log`` wires it in)."""

    def __init__(self, path: str | PathLike | BinaryIO) -> None:
        self._file: BinaryIO = open(path, "wb") if isinstance(path, (str, PathLike)) else path  # noqa: SIM115
        self._packer = msgpack.Packer()
        self._orders: dict[int, int] = {}  # backtrader order ref -> index in this run
        self._pending: list[list] = []
        self._broker: Any = None
        self.events = 0

    def bind(self, engine: Any) -> None:
        """At the start of the run: write the header and listen to the broker."""
        broker = self._broker = engine.broker
        header = broker_header(broker)
        header["channels"] = [list(key) for key in engine.channels]
        self._put(["H", VERSION, header])
        notify = broker.notify

        def notify_and_log(order: Any) -> None:
            notify(order)
            self._pending.append(self.notification(order))

        broker.notify = notify_and_log

    def notification(self, order: Any) -> list:
        index = self._orders.setdefault(order.ref, len(self._orders))
        executed = order.executed
        return ["N", index, order.getstatusname(), order.isbuy(), order.exectype, order.created.size,
                order.created.price, executed.size, executed.price, executed.comm]

    def write(self, event: Event) -> None:
        """After the engine handled ``event``: the event, its notifications, cash and equity."""
        self._put(["E", time.time(), event.channel_type, event.channel_name, int(event.priority),
                   event.timestamp, encode(event.data)])
        for record in self._pending:
            self._put(record)
        self._pending.clear()
        broker = self._broker
        self._put(["S", broker.getcash(), broker.getvalue()])
        self._file.flush()
        self.events += 1

    def close(self) -> None:
        self._file.close()

    def _put(self, record: list) -> None:
        self._file.write(self._packer.pack(record))


def attach_event_log(cerebro: Any, path: str | PathLike | BinaryIO) -> EventLog:
    """Log ``cerebro``'s next live run to ``path``."""
    log = cerebro._bc_event_log = EventLog(path)
    return log


def read_log(source: str | PathLike | BinaryIO) -> Iterator[list]:
    """The records of an event log (a path or a binary file), stopping quietly at a
    truncated last record."""
    file = open(Path(source), "rb") if isinstance(source, (str, PathLike)) else source  # noqa: SIM115
    try:
        yield from msgpack.Unpacker(file, use_list=True, raw=False)
    finally:
        file.close()
