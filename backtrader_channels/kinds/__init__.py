"""The registry of channel kinds: one ``Kind`` per ``channel_type``.

Adding a kind is one module declaring its channel, step and callback, plus its line here.
"""

from __future__ import annotations

from .base import Kind, Step
from .books import BOOKS
from .control import CONTROL, ControlChannel, ControlCommand
from .funding import FUNDING, FundingChannel, FundingEvent
from .orders import ORDERS
from .trades import TRADES

__all__ = ["KINDS", "ControlChannel", "ControlCommand", "FundingChannel", "FundingEvent", "Kind", "Step", "kind_of",
           "register"]

KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to the registry (its name must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"a channel kind named {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    return kind


def kind_of(channel_type: str) -> Kind:
    """The registered kind of ``channel_type``, or a KeyError listing the known ones."""
    try:
        return KINDS[channel_type]
    except KeyError:
        raise KeyError(f"unknown channel kind {channel_type!r}; known: {', '.join(KINDS)}") from None


for _kind in (BOOKS, TRADES, FUNDING, CONTROL, ORDERS):
    register(_kind)
