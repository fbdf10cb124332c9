"""Each Kind is the one place that says what it is: its channel, step and feed classes take
their channel_type and priority from it, and steps see the run only through their context."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import backtrader_channels
from backtrader_channels.bus import BusFeed
from backtrader_channels.bus.commands import ControlFeed, ControlSocket
from backtrader_channels.bus.streams import market_stream
from backtrader_channels.feeds import CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from backtrader_channels.feeds.funding import CCXTLiveFundingFeed
from backtrader_channels.feeds.user_stream import CCXTUserStreamFeed
from backtrader_channels.kinds import KINDS, Kind, Step, kind_of
from backtrader_channels.sweep.spec import ChannelSpec

PACKAGE = Path(backtrader_channels.__file__).parent


def test_channel_and_step_classes_are_named_by_their_kind():
    for name, kind in KINDS.items():
        assert (kind.step.kind, kind.step.priority) == (kind, kind.priority)
        if kind.channel is not None:
            assert (kind.channel.kind, kind.channel.channel_type, kind.channel.priority) == (kind, name, kind.priority)


@pytest.mark.parametrize("feed, name", [
    (CCXTLiveTickFeed, "tick"), (CCXTLiveOrderBookFeed, "orderbook"), (CCXTLiveFundingFeed, "funding"),
    (CCXTUserStreamFeed, "orders"), (ControlFeed, "control"), (ControlSocket, "control"),
])
def test_live_feeds_take_channel_type_and_priority_from_their_kind(feed, name):
    assert (feed.channel_type, feed.priority) == (name, kind_of(name).priority)


def test_a_bus_feed_takes_its_priority_from_the_kind_it_reads():
    feed = BusFeed("redis://127.0.0.1:1", "orderbook", "BTC/USDT")
    assert (feed.channel_type, feed.priority, feed.stream) == ("orderbook", 20, "btchannels:orderbook:BTC/USDT")
    with pytest.raises(ValueError, match=r"bus stream kind must be one of \['orderbook', 'tick', 'funding'\]"):
        market_stream("control", "run")


def test_a_sweep_channel_is_a_registered_market_data_kind():
    assert ChannelSpec("funding", "BTC/USDT:USDT", ("f.csv",)).kind == "funding"
    with pytest.raises(ValueError, match=r"channel kind must be one of \['orderbook', 'tick', 'funding'\], got 'trades'"):
        ChannelSpec("trades", "BTC/USDT", ("t.csv",))


def test_a_class_names_one_kind_only():
    class Again(Step):
        pass

    first = Kind("again", 70, None, Again, None)
    assert Again.kind is first
    with pytest.raises(ValueError, match="Again is already the 'again' kind's"):
        Kind("again-2", 71, None, Again, None)


def _class_level_declarations(path: Path) -> list[str]:
    """``channel_type = '...'`` or ``priority = EventPriority.X`` in a class body: a kind declared again."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if isinstance(statement, ast.Assign):
                names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
                value = statement.value
                literal = isinstance(value, ast.Constant) or (
                    isinstance(value, ast.Attribute) and getattr(value.value, "id", "") == "EventPriority")
                if literal and {"channel_type", "priority"} & set(names):
                    found.append(f"{path.relative_to(PACKAGE)}: {node.name}.{names[0]}")
    return found


def test_no_class_declares_a_kinds_name_or_priority_again():
    offences = [item for path in sorted(PACKAGE.rglob("*.py")) for item in _class_level_declarations(path)]
    assert offences == []


def test_steps_touch_no_other_objects_private_fields():
    offences = []
    for path in sorted((PACKAGE / "kinds").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                offences.append(f"kinds/{path.name}:{node.lineno} .{node.attr}")
    assert offences == []
