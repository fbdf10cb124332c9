"""What a channel kind is, and the step that handles its events.

A kind (trades, order books, funding rates, bar closes...) declares in one place: its key
(the ``channel_type`` strategies index channels with), its priority at equal timestamps,
its channel class, how a live message's data becomes rows, the strategy callback it
drives, and its ``Step``: the object that takes rows of the kind for one channel, from a
file (``load``) or live (``take``), through apply -> match -> notify -> callbacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..broker.market import Market
    from ..channels import Channel
    from ..engine.engine import TickEngine

__all__ = ["Kind", "Step"]


class Step:
    """Handles the events of one kind for one channel (and its symbol's market).

    History: the merge reads ``priority`` and ``chunks()``, calls ``load(chunk)`` once per
    window and ``run(start, stop)`` for each run of consecutive rows. Live: ``take(data)``
    loads one event's data as rows and runs it. ``run`` returns True when the run must stop.
    ``market`` is None for kinds that are not market data.
    """

    priority: int

    def __init__(self, engine: TickEngine, channel: Channel, market: Market | None) -> None:
        self.engine = engine
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
class Kind:
    """One kind of channel event, as the engine, Cerebro and live runs see it."""

    name: str  # the channel_type: ('tick', 'BTC/USDT') keys a strategy's channels
    priority: int  # lower goes first at equal timestamps
    channel: type[Channel]
    step: type[Step]
    callback: str | None  # the strategy method each event calls, e.g. 'notify_tick'
    market_data: bool = True  # validated live, and its symbol is a market orders trade

    def new_channel(self, symbol: str) -> Channel:
        """A channel of this kind for live events (bad updates counted, never raised)."""
        return self.channel(symbol, on_error="skip")
