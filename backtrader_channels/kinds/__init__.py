"""The registry of channel kinds: one ``Kind`` per ``channel_type``.

Adding a kind is one module declaring its ``Kind`` (name, priority, event types, codec,
channel, step, callback), plus its line here. The bus, the event log, live runs and the
engine find a kind by name (``kind_of``), by the type of its events' data
(``kind_of_data``) or by its codec's tag (``kind_of_tag``).
"""

from __future__ import annotations

from typing import Any

from .bars import BARS
from .base import Codec, Kind, Step, StepContext, dataclass_codec
from .books import BOOKS
from .control import CONTROL, ControlChannel, ControlCommand
from .funding import FUNDING, FundingChannel, FundingEvent
from .orders import ORDERS
from .trades import TRADES

__all__ = ["KINDS", "Codec", "ControlChannel", "ControlCommand", "FundingChannel", "FundingEvent", "Kind", "Step",
           "StepContext", "dataclass_codec", "kind_of", "kind_of_data", "kind_of_tag", "register"]

KINDS: dict[str, Kind] = {}
_BY_TYPE: dict[type, Kind] = {}
_BY_TAG: dict[int, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to the registry (its name, event types and codec tag must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"a channel kind named {kind.name!r} is already registered")
    taken = [cls.__name__ for cls in kind.events if cls in _BY_TYPE]
    if taken:
        raise ValueError(f"{', '.join(taken)} already belong to another kind")
    if kind.codec is not None and kind.codec.tag in _BY_TAG:
        raise ValueError(f"codec tag {kind.codec.tag} is the {_BY_TAG[kind.codec.tag].name!r} kind's")
    KINDS[kind.name] = kind
    _BY_TYPE.update(dict.fromkeys(kind.events, kind))
    if kind.codec is not None:
        _BY_TAG[kind.codec.tag] = kind
    return kind


def kind_of(channel_type: str) -> Kind:
    """The registered kind of ``channel_type``, or a KeyError listing the known ones."""
    try:
        return KINDS[channel_type]
    except KeyError:
        raise KeyError(f"unknown channel kind {channel_type!r}; known: {', '.join(KINDS)}") from None


def kind_of_data(data: Any) -> Kind | None:
    """The kind whose events carry ``data`` (its type or a base of it), None when no kind does."""
    for cls in type(data).__mro__:
        kind = _BY_TYPE.get(cls)
        if kind is not None:
            return kind
    return None


def kind_of_tag(tag: int) -> Kind | None:
    """The kind whose codec has ``tag``, None when none has."""
    return _BY_TAG.get(tag)


for _kind in (BOOKS, TRADES, FUNDING, CONTROL, ORDERS, BARS):
    register(_kind)
