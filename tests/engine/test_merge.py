"""The chunked k-way merge: (timestamp, priority, stream, row) order across chunk boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backtrader_channels.engine.merge import TimeChunk, merge_windows
from backtrader_channels.sources.chunks import BookChunk


@dataclass
class Times:
    """A stream whose rows are just times, cut into chunks of the given sizes."""

    priority: int
    times: list[int]
    sizes: list[int]

    def chunks(self):
        start = 0
        for size in self.sizes:
            yield TimeChunk(np.asarray(self.times[start:start + size], dtype=np.int64))
            start += size


def merged(streams):
    out = []
    for window in merge_windows(streams):
        if window.sources is None:
            index, chunk = window.parts[0]
            out += [(int(t), index) for t in chunk.ts_ns]
        else:
            for source, row in zip(window.sources, window.rows):
                index, chunk = window.parts[source]
                out.append((int(chunk.ts_ns[row]), index))
    return out


def test_equal_times_follow_priority_then_stream_order_even_across_chunks():
    trades = Times(30, [1, 2, 2, 2, 3, 5], [2, 1, 3])  # a run of 2s split over three chunks
    book = Times(20, [2, 2, 4], [1, 2])
    bars = Times(40, [2, 5], [2])
    out = merged([trades, book, bars])
    assert out == [(1, 0), (2, 1), (2, 1), (2, 0), (2, 0), (2, 0), (2, 2), (3, 0), (4, 1), (5, 0), (5, 2)]


def test_two_streams_of_one_priority_keep_the_order_they_were_added():
    first = Times(30, [1, 1, 2], [1, 1, 1])
    second = Times(30, [1, 2, 2], [3])
    assert merged([first, second]) == [(1, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 1)]


def test_single_stream_windows_are_passed_through_whole():
    windows = list(merge_windows([Times(30, list(range(10)), [4, 4, 2])]))
    assert all(w.sources is None for w in windows)
    assert sum(len(w.parts[0][1]) for w in windows) == 10


def test_empty_chunks_and_empty_streams_are_harmless():
    assert merged([Times(30, [], [0, 0]), Times(20, [3], [0, 1, 0])]) == [(3, 1)]


def test_book_chunks_keep_their_levels_when_split_and_joined():
    offsets = np.array([0, 2, 3, 5])
    chunk = BookChunk(np.array([1, 2, 3]), np.array([True, False, False]), offsets, np.array([0, 1, 0, 0, 1], dtype=np.int8),
                      np.array([10.0, 11.0, 10.5, 10.2, 11.5]), np.array([1.0, 1.0, 0.0, 2.0, 3.0]))

    class Book:
        priority = 20

        def chunks(self):
            yield chunk

    class Late:
        priority = 30

        def chunks(self):
            yield TimeChunk(np.array([2], dtype=np.int64))
            yield TimeChunk(np.array([9], dtype=np.int64))

    windows = list(merge_windows([Book(), Late()]))
    book_rows = [part for w in windows for index, part in w.parts if index == 0]
    levels = [(int(t), list(p.price[p.offsets[k]:p.offsets[k + 1]]))
              for p in book_rows for k, t in enumerate(p.ts_ns)]
    assert levels == [(1, [10.0, 11.0]), (2, [10.5]), (3, [10.2, 11.5])]


def test_chunks_count_rows_and_still_replace_fields():
    from backtrader_channels.sources.chunks import TradeChunk

    chunk = TradeChunk(np.arange(3), np.ones(3), np.ones(3), np.zeros(3, bool), None)
    replaced = chunk._replace(price=np.array([1.0, 2.0, 3.0]))
    assert len(chunk) == 3 and replaced.price.tolist() == [1.0, 2.0, 3.0] and isinstance(replaced, TradeChunk)
