"""Hypothesis strategies for the input a hostile or broken world sends, each with its cause.

One vocabulary for every consumer of outside data (file readers, live feeds, the recorder,
the bus): a generated stream mixes good items with bad ones, and every bad item carries the
``cause`` it must be counted under. The property every consumer is held to:

    good items delivered once, in order; bad items counted once, under their cause;
    nothing freezes; memory stays bounded.

Causes (the names the counters use):

- ``unparseable``: not a number / not JSON / a field missing or of the wrong type;
- ``nan_or_inf``: a number that is NaN or infinite;
- ``invalid_price``: a price <= 0;
- ``invalid_volume``: a size < 0 (a trade size of 0 is ``invalid_volume`` too: nothing traded).

Book levels of size 0 are good: on Binance a 0 size removes the level. A consumer of whole
books adds ``crossed_book`` (best bid >= best ask).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "BadValue",
    "Frame",
    "TradeCase",
    "bad_book_levels",
    "bad_frames",
    "bad_prices",
    "bad_trade_sizes",
    "binance_trade_frames",
    "binance_trade_payload",
    "binance_trades_csv",
    "good_prices",
    "good_sizes",
    "trade_cases",
    "zip_without_newline",
]


@dataclass(frozen=True)
class BadValue:
    """A value as the wire or a file carries it (a string, or a JSON value) and its cause."""

    text: Any
    cause: str


_BAD_NUMBERS = (
    BadValue("abc", "unparseable"),
    BadValue("", "unparseable"),
    BadValue(None, "unparseable"),
    BadValue("1,5", "unparseable"),
    BadValue("NaN", "nan_or_inf"),
    BadValue("nan", "nan_or_inf"),
    BadValue("inf", "nan_or_inf"),
    BadValue("-Infinity", "nan_or_inf"),
    BadValue("1e400", "nan_or_inf"),  # overflows to inf
)
_NON_POSITIVE = (BadValue("0", "invalid_price"), BadValue("-5", "invalid_price"), BadValue("-0.00000001", "invalid_price"))
_NEGATIVE = (BadValue("-1", "invalid_volume"), BadValue("-0.5", "invalid_volume"))


def good_prices() -> st.SearchStrategy[str]:
    """Prices as Binance prints them: positive, finite, 8 decimals."""
    return st.decimals(min_value="0.01", max_value="200000", places=8).map(lambda value: f"{value:.8f}")


def good_sizes() -> st.SearchStrategy[str]:
    """Trade sizes as Binance prints them: positive, finite, 8 decimals."""
    return st.decimals(min_value="0.00000001", max_value="1000", places=8).map(lambda value: f"{value:.8f}")


def bad_prices() -> st.SearchStrategy[BadValue]:
    """Prices a consumer must refuse."""
    return st.sampled_from(_BAD_NUMBERS + _NON_POSITIVE)


def bad_trade_sizes() -> st.SearchStrategy[BadValue]:
    """Trade sizes a consumer must refuse (0: nothing traded)."""
    return st.sampled_from((*_BAD_NUMBERS, *_NEGATIVE, BadValue("0", "invalid_volume")))


def bad_book_levels() -> st.SearchStrategy[tuple[list[Any], str]]:
    """``[price, size]`` book levels a consumer must refuse, with the cause: a bad price, or a
    good price with a bad size (a size of 0 is good: it removes the level)."""
    bad_price = st.tuples(bad_prices(), good_sizes()).map(lambda pair: ([pair[0].text, pair[1]], pair[0].cause))
    bad_sizes = st.sampled_from(_BAD_NUMBERS + _NEGATIVE)
    bad_size = st.tuples(good_prices(), bad_sizes).map(lambda pair: ([pair[0], pair[1].text], pair[1].cause))
    return st.one_of(bad_price, bad_size)


def bad_frames() -> st.SearchStrategy[str]:
    """WebSocket text frames that hold no usable message: not JSON, truncated, or empty."""
    fixed = st.sampled_from(["", "{", '{"e":"trade",', "not json", "[]", "{}", "null", '"x"', "42", "\x00\xff"])
    return st.one_of(fixed, st.text(max_size=40).filter(lambda text: not _is_json_object(text)))


def _is_json_object(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and bool(value)


@dataclass(frozen=True)
class TradeCase:
    """One trade of a generated stream: its fields, and the cause it must be refused for (None: good)."""

    trade_id: int
    price: Any
    size: Any
    time_ms: int
    buyer_maker: bool
    cause: str | None


@st.composite
def trade_cases(
    draw: st.DrawFn, *, first_id: int = 1, start_ms: int = 1_700_000_000_000, min_size: int = 1, max_size: int = 60,
    bad_share: float = 0.2,
) -> list[TradeCase]:
    """A stream of trades with consecutive ids and rising times, about ``bad_share`` of them bad
    (a bad price or a bad size, never both, so each has one cause)."""
    count = draw(st.integers(min_size, max_size))
    cases = []
    time_ms = start_ms
    for offset in range(count):
        time_ms += draw(st.integers(0, 1_000))
        price, size = draw(good_prices()), draw(good_sizes())
        cause = None
        if draw(st.floats(0, 1)) < bad_share:
            bad = draw(st.one_of(bad_prices().map(lambda value: ("price", value)),
                                 bad_trade_sizes().map(lambda value: ("size", value))))
            field, value = bad
            price, size, cause = (value.text, size, value.cause) if field == "price" else (price, value.text, value.cause)
        cases.append(TradeCase(first_id + offset, price, size, time_ms, draw(st.booleans()), cause))
    return cases


def binance_trade_payload(case: TradeCase, symbol_id: str = "BTCUSDT") -> dict[str, Any]:
    """The ``<symbol>@trade`` stream message of ``case`` (Binance's field names)."""
    return {
        "e": "trade", "E": case.time_ms, "s": symbol_id, "t": case.trade_id, "p": case.price, "q": case.size,
        "T": case.time_ms, "m": case.buyer_maker, "M": True,
    }


@dataclass(frozen=True)
class Frame:
    """One WebSocket text frame of a generated stream: the trade it carries (None: junk) and
    the cause it must be counted under (None: a good trade)."""

    text: str
    trade: TradeCase | None
    cause: str | None


@st.composite
def binance_trade_frames(
    draw: st.DrawFn, *, symbol_id: str = "BTCUSDT", max_junk: int = 5, **trade_case_options: Any
) -> list[Frame]:
    """A ``<symbol>@trade`` stream: the frames of ``trade_cases(**trade_case_options)`` in order,
    with up to ``max_junk`` ``bad_frames`` (``unparseable``) slipped in anywhere."""
    frames = [Frame(json.dumps(binance_trade_payload(case, symbol_id)), case, case.cause)
              for case in draw(trade_cases(**trade_case_options))]
    for junk in draw(st.lists(bad_frames(), max_size=max_junk)):
        frames.insert(draw(st.integers(0, len(frames))), Frame(junk, None, "unparseable"))
    return frames


def binance_trades_csv(cases: Sequence[TradeCase]) -> str:
    """The rows of a Binance spot trades dump (no header): id, price, qty, quote_qty, time,
    is_buyer_maker, is_best_match; a bad value is written as its text (None: an empty field)."""
    rows = []
    for case in cases:
        price, size = ("" if case.price is None else case.price), ("" if case.size is None else case.size)
        rows.append(f"{case.trade_id},{price},{size},0,{case.time_ms},{str(case.buyer_maker).lower()},true")
    return "\n".join(rows) + "\n"


def zip_without_newline(path: Path, member: str, inflated_bytes: int, *, head: bytes = b"") -> Path:
    """A zip whose one member inflates to ``head`` then ``inflated_bytes`` of ``a`` with no newline:
    a few KB on disk per 10 MB inflated (a zip bomb, as far as a line reader is concerned)."""
    block = b"a" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, archive.open(member, "w") as out:
        out.write(head)
        left = inflated_bytes
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
    return path


@dataclass(frozen=True)
class BusEntry:
    """One entry of a bus trade stream: its fields (for XADD), the cause it must be refused
    for (None: good) and the trade id it carries, if any (a bad trade's too)."""

    fields: dict[str, Any]
    cause: str | None
    trade_id: int | None


def _on_the_wire(text: Any) -> Any:
    """A bad value as the bus carries it: the float it parses to (NaN, inf, 0, -5), else as is
    (a string or None where the codec puts a float64)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


@st.composite
def bus_trade_entries(draw: st.DrawFn, *, max_size: int = 40, bad_share: float = 0.2) -> list[BusEntry]:
    """Entries of a ``btchannels:tick:<symbol>`` stream (docs/bus.md): the trades of
    ``trade_cases`` in the bus codec's array (a bad price or size travels as ``_on_the_wire``
    makes it), with entries that are not the codec's in between: not msgpack (``unparseable``),
    an unknown tag (``unknown_kind``), another kind's message (``wrong_kind``), too few fields
    or no ``d`` field (``unparseable``). Good trades get a float price and size."""
    import msgpack

    garbage = st.sampled_from([
        BusEntry({"d": b"\xc1"}, "unparseable", None),  # a byte msgpack never uses
        BusEntry({"d": b""}, "unparseable", None),
        BusEntry({"d": b'{"p": "1"'}, "unparseable", None),  # JSON, cut short
        BusEntry({"d": b"not json"}, "unparseable", None),
        BusEntry({"d": msgpack.packb([1, 1.7e9, 100.0])}, "unparseable", None),  # a trade missing fields
        BusEntry({"x": b"1"}, "unparseable", None),  # no message field
        BusEntry({"d": msgpack.packb([99, 1.7e9, 100.0])}, "unknown_kind", None),
        BusEntry({"d": msgpack.packb([3, 1.7e9, "stop"])}, "wrong_kind", None),  # a control command
    ])
    entries = []
    for case in draw(trade_cases(max_size=max_size, bad_share=bad_share)):
        if draw(st.floats(0, 1)) < bad_share:
            entries.append(draw(garbage))
        good = case.cause is None
        price, size = (float(case.price), float(case.size)) if good else (_on_the_wire(case.price), _on_the_wire(case.size))
        timestamp = case.time_ms / 1000
        message = [1, timestamp, price, size, case.buyer_maker, case.trade_id, timestamp + 0.001]
        entries.append(BusEntry({"d": msgpack.packb(message)}, case.cause, case.trade_id))
    return entries
