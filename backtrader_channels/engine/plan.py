"""RunPlan: everything one tick-mode run is made of, built once before it starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..broker.channel_broker import ChannelBroker
    from ..broker.market import Market
    from ..channels import Channel
    from .live import LiveSession

__all__ = ["RunPlan"]


@dataclass
class RunPlan:
    """Channels (keyed ``(channel_type, symbol)``), one market per symbol, the broker, the
    bar feeds added with ``adddata``, and for live runs the session (queue, feeds, validator).

    Live runs add a channel and market when a new symbol's first event arrives.
    """

    channels: dict[tuple[str, str], Channel]
    markets: dict[str, Market]
    broker: ChannelBroker
    bar_feeds: list = field(default_factory=list)
    live: LiveSession | None = None
    equity_interval: float = 1.0
    environment: Any = None  # the Cerebro new markets' data belong to
