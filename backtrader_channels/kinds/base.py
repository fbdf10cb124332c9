"""What a channel kind is, the step that handles its events, and what a step may use of the run.

A ``Kind`` (trades, order books, funding rates, control commands, own orders, bar closes) is
the one place that says what the kind is: its name (the ``channel_type`` strategies index
channels with), its priority at equal timestamps, the data types its events carry, its
``Codec`` (how that data travels on the bus and in the event log), its channel class, its
``Step`` class (which also turns a live event's data into rows: ``take``), the strategy
callback it drives, and the name of its stream directory in a recording. Creating the Kind
gives its channel and step classes their ``kind``, ``channel_type`` and ``priority``.

A step sees the run through a ``StepContext`` (the engine provides one), never the engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..events import Event, EventPriority

if TYPE_CHECKING:
    from ..broker.market import Market
    from ..broker.tick_broker import TickBroker
    from ..channels import Channel

__all__ = ["Codec", "Kind", "Step", "StepContext", "dataclass_codec"]


class _Clock(Protocol):
    now: float


class _Bridges(Protocol):
    def watches(self, channel: Any) -> bool: ...
    def precompute(self, channel: Any) -> bool: ...
    def update(self, channel: Any) -> None: ...
    def sample(self, now: float) -> None: ...


class StepContext(Protocol):
    """What a step may use of the run it takes part in.

    ``callbacks[kind.name]`` are the strategies' callbacks of a kind (emptied while paused);
    ``finish()`` ends a step (per-event ``next``, orders start working, notifications, equity
    sample; True when the run must stop); ``deliver()`` hands due order notifications to the
    strategies now. ``next_sample``/``sample()``/``count(n)`` serve steps that take rows in
    bulk, and ``next_timer`` (a timer can fire there: that event needs a full step); ``pause``/``resume``/``flatten``/``stop`` serve control commands.
    """

    @property
    def clock(self) -> _Clock: ...
    @property
    def broker(self) -> TickBroker: ...
    @property
    def callbacks(self) -> Mapping[str, list[Callable]]: ...
    @property
    def next_callbacks(self) -> list[Callable]: ...
    @property
    def bridges(self) -> _Bridges: ...
    @property
    def strategies(self) -> list: ...
    @property
    def notifications(self) -> Any: ...  # the broker's notification queue: true when one waits
    @property
    def next_sample(self) -> float: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def next_timer(self) -> float: ...

    def finish(self, call_next: bool = True) -> bool: ...
    def deliver(self, force: bool = False) -> None: ...
    def sample(self) -> None: ...
    def count(self, events: int) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def flatten(self) -> None: ...
    def stop(self) -> None: ...


class Step:
    """Handles the events of one kind for one channel (and its symbol's market).

    History: the merge reads ``priority`` and ``chunks()``, calls ``load(chunk)`` once per
    window and ``run(start, stop)`` for each run of consecutive rows. Live: ``take(data)``
    loads one event's data as rows and runs it. ``run`` returns True when the run must stop.
    ``market`` is None for kinds that are not market data.
    """

    kind: ClassVar[Kind]  # set by the Kind that names this step
    priority: ClassVar[EventPriority]  # the kind's

    def __init__(self, context: StepContext, channel: Channel, market: Market | None) -> None:
        self.context = context
        self.channel = channel
        self.market = market

    def prepare(self) -> None:
        """Before a historical run over the channel's file (nothing by default)."""

    def chunks(self) -> Iterator[Any]:
        source = self.channel.source
        if source is None:
            raise ValueError(f"{self.channel!r} has no dataname: nothing to stream")
        return source.chunks()

    def load(self, chunk: Any) -> None:
        """Take a window of the channel's file (a chunk) as this step's rows."""
        raise NotImplementedError

    def take(self, data: Any) -> bool:
        """Handle one live event's data; True when the run must stop."""
        raise NotImplementedError

    def run(self, start: int, stop: int) -> bool:
        """Handle rows ``start:stop`` of what was loaded; True when the run must stop."""
        raise NotImplementedError


@dataclass(frozen=True)
class Codec:
    """How a kind's event data travels: as a list of msgpack-ready fields, tagged.

    ``encode(data)`` gives the fields, ``decode(fields, symbol)`` the data again (``symbol``:
    the channel name, for data that does not carry it). ``tag`` is the kind's number on the
    wire (bus entries and event logs start with it): unique among the registered kinds.
    """

    tag: int
    encode: Callable[[Any], Sequence[Any]]
    decode: Callable[[Sequence[Any], str | None], Any]


def dataclass_codec(tag: int, *types: type) -> Codec:
    """A codec for dataclass reports: the type's name and its fields by name.

    Fields are read from the dataclass itself, so a field added to a report travels with no
    change here; a field missing from older data takes its default.
    """
    by_name = {cls.__name__: cls for cls in types}
    if len(by_name) != len(types) or not all(dataclasses.is_dataclass(cls) for cls in types):
        raise TypeError("dataclass_codec needs dataclasses with distinct names")

    def encode(data: Any) -> tuple[str, dict[str, Any]]:
        return type(data).__name__, {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}

    def decode(fields: Sequence[Any], symbol: str | None) -> Any:
        name, values = fields
        cls = by_name.get(name)
        if cls is None:
            raise ValueError(f"no report type {name!r}; known: {', '.join(by_name)}")
        return cls(**values)

    return Codec(tag, encode, decode)


@dataclass(frozen=True)
class Kind:
    """One kind of channel event, as the engine, Cerebro, live runs, the bus and the logs see it."""

    name: str  # the channel_type: ('tick', 'BTC/USDT') keys a strategy's channels
    priority: EventPriority  # lower goes first at equal timestamps (CUSTOM and up: free for new kinds)
    channel: type[Channel] | None  # None: no channel (bar closes)
    step: type[Step]
    callback: str | None  # the strategy method each event calls, e.g. 'notify_tick'
    events: tuple[type, ...] = ()  # the types of its events' data
    codec: Codec | None = None  # None: its events never leave the process
    market_data: bool = True  # validated live, and its symbol is a market orders trade
    recording: str | None = None  # its stream directory in a recording ('trades', 'book')

    def __post_init__(self) -> None:
        for cls in (self.channel, self.step):
            if cls is None:
                continue
            owner = cls.__dict__.get("kind")
            if owner is not None and owner is not self:
                raise ValueError(f"{cls.__name__} is already the {owner.name!r} kind's")
            cls.kind = self  # the class learns its kind here, once
            cls.priority = self.priority
        if self.channel is not None:
            self.channel.channel_type = self.name

    def new_channel(self, symbol: str) -> Channel:
        """A channel of this kind for live events (bad updates counted, never raised)."""
        if self.channel is None:
            raise ValueError(f"the {self.name!r} kind has no channel")
        return self.channel(symbol, on_error="skip")

    def event(self, data: Any, channel_name: str | None, timestamp: float | None = None) -> Event:
        """The queue ``Event`` of ``data`` on channel ``channel_name`` (at ``data.timestamp`` by default)."""
        return Event(data.timestamp if timestamp is None else timestamp, self.priority, self.name, channel_name, data)
