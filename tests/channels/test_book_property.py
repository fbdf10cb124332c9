"""The order book against a plain reference: random snapshot and delta streams (levels
appearing, changing, removed, re-added, repeated within one update, zero sizes, crossings)
give the same reads and the same refusals after every update, whether the updates come one
at a time (live) or as a window of columns (a file), whatever was read before: the pure
Python book and the compiled one (which applies a window ahead of the reader and must
answer every read as of the reader's update)."""

from __future__ import annotations

import copy
import math
import pickle
import re
from functools import partial
from itertools import islice

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtrader_channels import BookError, Level, OrderBookChannel
from backtrader_channels.channels import BookTop
from backtrader_channels.channels.book import OrderBook, Updates
from backtrader_channels.channels.compiled_book import CompiledOrderBook

BOOKS = pytest.mark.parametrize("book_class", [
    OrderBook,
    CompiledOrderBook,
    partial(CompiledOrderBook, recorded=2),  # most reads need the arrays brought back to the update read
], ids=["python", "compiled", "compiled-recording-2"])


class ReferenceBook:
    """A dict per side, sorted when read; refusals as documented (the book unchanged)."""

    def __init__(self) -> None:
        self.sides: tuple[dict, dict] = ({}, {})
        self.has_snapshot = False

    def apply(self, is_snapshot: bool, levels: list[tuple[int, float, float]]) -> str | None:
        """Apply (side, price, size) levels in order; the kind of refusal, or None."""
        if is_snapshot:
            bids = [price for side, price, size in levels if side == 0 and size > 0]
            asks = [price for side, price, size in levels if side == 1 and size > 0]
            if bids and asks and max(bids) >= min(asks):
                return "crossed"
            sides: tuple[dict, dict] = ({}, {})
        elif not self.has_snapshot:
            return "delta_before_snapshot"
        else:
            sides = (dict(self.sides[0]), dict(self.sides[1]))
        for side, price, size in levels:
            if size > 0:
                sides[side][price] = size
            else:
                sides[side].pop(price, None)
        if sides[0] and sides[1] and max(sides[0]) >= min(sides[1]):
            return "crossed"
        self.sides, self.has_snapshot = sides, True
        return None

    def levels(self, side: int) -> list[Level]:
        prices = sorted(self.sides[side], reverse=side == 0)
        return [Level(price, self.sides[side][price]) for price in prices]


def assert_same(book: OrderBook | CompiledOrderBook, reference: ReferenceBook, reads: list[int], whole: bool = True) -> None:
    """The reads of the top, and of the whole book when ``whole``."""
    bids, asks = reference.levels(0), reference.levels(1)
    for n in reads:  # the reads vary, so the book's kept Level tuples are checked after any history
        assert book.depth(n) == (bids[:n], asks[:n])
    assert book.best_bid == (bids[0] if bids else None)
    assert book.best_ask == (asks[0] if asks else None)
    assert len(book) == len(bids) + len(asks)
    assert list(islice(book.liquidity(buy=True), 2)) == asks[:2]
    if whole:
        assert list(book.liquidity(buy=False)) == bids and list(book.liquidity(buy=True)) == asks
        assert book.bids == bids and book.asks == asks
        assert book.depth(None) == (bids, asks)
    spread = asks[0].price - bids[0].price if bids and asks else math.nan
    assert book.spread == spread or (math.isnan(book.spread) and math.isnan(spread))


# bids mostly below asks, so most deltas are applied and some cross the book
BID_PRICES = st.sampled_from([95.0, 96.0, 97.0, 98.0, 98.5, 99.0, 99.5, 100.0, 100.5])
ASK_PRICES = st.sampled_from([99.5, 100.0, 100.5, 101.0, 101.5, 102.0, 103.0, 104.0, 105.0])
SIZES = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 3.25])
LEVEL = st.one_of(st.tuples(st.just(0), BID_PRICES, SIZES), st.tuples(st.just(1), ASK_PRICES, SIZES))
UPDATE = st.tuples(st.booleans(), st.lists(LEVEL, max_size=8), st.lists(st.integers(-3, 12), max_size=3),
                   st.integers(0, 3).map(lambda draw: draw == 0))  # whole-book reads now and then
STREAM = st.lists(UPDATE, min_size=1, max_size=40).map(
    lambda updates: [(i == 0 or snap and i % 7 == 0, levels, reads, whole)
                     for i, (snap, levels, reads, whole) in enumerate(updates)]
)


def window(stream: list, lists: bool = True) -> Updates:
    """The stream as one window of columns, as a BookStep makes it from a file's chunk (with
    the columns a compiled book never reads left as arrays unless ``lists``)."""
    counts = [len(levels) for _, levels, _, _ in stream]
    flat = [level for _, levels, _, _ in stream for level in levels]
    return Updates.of_columns(
        np.arange(len(stream), dtype=np.float64), np.array([snap for snap, _, _, _ in stream], dtype=bool),
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        np.array([side for side, _, _ in flat], dtype=np.int8), np.array([p for _, p, _ in flat], dtype=np.float64),
        np.array([s for _, _, s in flat], dtype=np.float64), ids=list(range(len(stream))), lists=lists,
    )


def refusal(apply, *update) -> str | None:
    try:
        apply(*update)
    except BookError as error:
        return error.kind
    return None


@BOOKS
@settings(max_examples=400, deadline=None)
@given(stream=STREAM, cut=st.integers(0, 40))
def test_windows_of_updates_match_the_reference(book_class, stream, cut):
    """The stream in two windows (a file's chunks, or a window's blocks)."""
    book, reference = book_class("X"), ReferenceBook()
    cut = min(cut, len(stream))
    lists = book_class is OrderBook
    windows = [window(stream[:cut], lists) if cut else None, window(stream[cut:], lists)]
    for k, (is_snapshot, levels, reads, whole) in enumerate(stream):
        updates, row = (windows[0], k) if k < cut else (windows[1], k - cut)
        refused = refusal(book.apply_update, updates, row)
        assert refused == reference.apply(is_snapshot, levels)
        assert_same(book, reference, reads, whole)
        assert book.has_snapshot == reference.has_snapshot
        if refused is None:
            assert (book.timestamp, book.update_id) == (float(row), row)  # its window's numbering


@BOOKS
@settings(max_examples=400, deadline=None)
@given(stream=STREAM)
def test_updates_one_at_a_time_match_the_reference(book_class, stream):
    book, reference = book_class("X"), ReferenceBook()
    for k, (is_snapshot, levels, reads, whole) in enumerate(stream):
        sides, prices, sizes = zip(*levels) if levels else ((), (), ())
        refused = refusal(book.apply_levels, float(k), is_snapshot, sides, prices, sizes, k)
        assert refused == reference.apply(is_snapshot, levels)
        assert_same(book, reference, reads, whole)


@BOOKS
@settings(max_examples=200, deadline=None)
@given(stream=STREAM)
def test_channel_counts_the_same_refusals(book_class, stream):
    channel, reference = OrderBookChannel("X", on_error="skip"), ReferenceBook()
    channel.book = book_class("X")
    updates = window(stream, lists=channel.book.reads_lists)
    expected: dict[str, int] = {}
    for k, (is_snapshot, levels, _, _) in enumerate(stream):
        kind = reference.apply(is_snapshot, levels)
        assert channel.apply_update(updates, k) is (kind is None)
        if kind is not None:
            expected[kind] = expected.get(kind, 0) + 1
        if kind is None:  # the top after each applied update, nan and 0 for an empty side
            bids, asks = reference.levels(0), reference.levels(1)
            top = (float(k), *(bids[0] if bids else (math.nan, 0.0)), *(asks[0] if asks else (math.nan, 0.0)))
            assert repr(channel.history(1)[0]) == repr(BookTop(*top))
    assert dict(channel.rejected) == expected
    assert len(channel) == len(stream) - sum(expected.values())


@BOOKS
def test_refusal_messages_name_the_prices(book_class):
    book = book_class("X")
    book.apply(1.0, True, [(99.0, 1.0)], [(101.0, 1.0)])
    with pytest.raises(BookError, match=re.escape("order-book delta would cross the book (bid 102.0 >= ask 101.0)")):
        book.apply(2.0, False, [(102.0, 1.0), (98.0, 2.0)], [])
    assert book.bids == [Level(99.0, 1.0)] and book.asks == [Level(101.0, 1.0)]
    with pytest.raises(BookError, match=re.escape("order-book snapshot is crossed (bid 103.0 >= ask 100.0)")):
        book.apply(3.0, True, [(100.0, 1.0), (103.0, 2.0), (103.0, 0.0)], [(100.0, 2.0)])
    assert book.timestamp == 1.0 and len(book) == 2


def test_a_long_book_file_gets_the_compiled_book_a_short_file_or_a_live_channel_the_python_one(
        monkeypatch, tmp_path):
    import backtrader_channels.channels.orderbook as orderbook_module
    from backtrader_channels.bench.inputs import book_chunks
    from backtrader_channels.sources import write_book

    path = tmp_path / "book.parquet"
    write_book(path, book_chunks(200, 20))
    size = path.stat().st_size
    monkeypatch.delenv("BTCHANNELS_BOOK", raising=False)
    assert type(OrderBookChannel("X").book) is OrderBook  # live: a few updates a second
    monkeypatch.setattr(orderbook_module, "COMPILED_FROM_BYTES", size + 1)
    assert type(OrderBookChannel("X", dataname=path).book) is OrderBook
    monkeypatch.setattr(orderbook_module, "COMPILED_FROM_BYTES", size)
    assert type(OrderBookChannel("X", dataname=path).book) is CompiledOrderBook  # numba is in the test extra
    monkeypatch.setenv("BTCHANNELS_BOOK", "python")
    assert type(OrderBookChannel("X", dataname=path).book) is OrderBook
    monkeypatch.setenv("BTCHANNELS_BOOK", "compiled")
    assert type(OrderBookChannel("X").book) is CompiledOrderBook
    monkeypatch.setenv("BTCHANNELS_BOOK", "numba")
    with pytest.raises(ValueError, match="BTCHANNELS_BOOK must be one of auto, python, compiled, got 'numba'"):
        OrderBookChannel("X")


def test_the_books_agree_on_a_thousand_level_book_read_as_a_strategy_reads_it():
    """The benchmark's book (1,000 levels a side, deltas of 10 levels mostly near the touch)
    in windows of 700 updates: the top after every update and the whole book now and then,
    so the compiled book grows its arrays and replays runs from far behind their end."""
    from backtrader_channels.bench.inputs import book_chunks
    from backtrader_channels.sources.chunks import to_seconds

    (chunk,) = book_chunks(3000, 1000)
    python, compiled = OrderBook("X"), CompiledOrderBook("X")
    whole_reads = 0
    for lo in range(0, len(chunk), 700):
        hi = min(len(chunk), lo + 700)
        first, last = int(chunk.offsets[lo]), int(chunk.offsets[hi])
        updates = Updates.of_columns(to_seconds(chunk.ts_ns[lo:hi]), chunk.is_snapshot[lo:hi],
                                     chunk.offsets[lo : hi + 1] - first, chunk.side[first:last],
                                     chunk.price[first:last], chunk.size[first:last])
        for k in range(hi - lo):
            python.apply_update(updates, k)
            compiled.apply_update(updates, k)
            assert compiled.depth(10) == python.depth(10) and compiled.top() == python.top()
            if (lo + k) % 331 == 330:
                whole_reads += 1
                assert compiled.bids == python.bids and compiled.asks == python.asks
                assert list(compiled.liquidity(buy=True)) == python.asks
    assert whole_reads == 9 and len(compiled) == len(python) > 1900
    compiled.clear()  # as a channel's reset does, mid-window
    assert (len(compiled), compiled.has_snapshot, compiled.depth(3), compiled.best_bid) == (0, False, ([], []), None)
    with pytest.raises(BookError, match="delta before any snapshot"):
        compiled.apply_update(updates, 5)


@BOOKS
def test_a_deep_copied_or_pickled_book_reads_the_same_and_moves_on_alone(book_class):
    book = book_class("X")
    for k, (bids, asks) in enumerate([([(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0), (102.0, 4.0)]),
                                      ([(99.0, 0.0), (98.5, 3.0)], [(100.5, 0.25)])]):
        book.apply(float(k), k == 0, bids, asks, k)
    for copied in (copy.deepcopy(book), pickle.loads(pickle.dumps(book))):
        assert (copied.bids, copied.asks) == ([Level(98.5, 3.0), Level(98.0, 2.0)],
                                              [Level(100.5, 0.25), Level(101.0, 1.0), Level(102.0, 4.0)])
        assert (copied.timestamp, copied.update_id, copied.has_snapshot, copied.symbol) == (1.0, 1, True, "X")
        copied.apply(2.0, False, [(98.5, 0.0)], [])
        assert copied.best_bid == Level(98.0, 2.0) and book.best_bid == Level(98.5, 3.0)
