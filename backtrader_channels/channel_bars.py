"""Bars from a channel: ``cerebro.resampledata(channel, timeframe=..., compression=...)``.

A bar covers ``[start, end)`` of its interval, aligned on the day as backtrader's resampler
aligns it, and is stamped with ``end`` (backtrader's default ``rightedge=True``). It closes
at ``end``, before any event stamped at or after it, so orders sent in ``next()`` fill on
the trades after the close. Intervals without a trade give no bar, as in backtrader,
unless ``fill_gaps=True`` (a flat bar at the last close, volume 0).

Historical runs build every bar up front from the channel's file, a chunk at a time with
numpy; the bar feed is then an ordinary preloaded backtrader feed whose close times join
the event merge. Live runs (``LiveBars``) update the open bar per event and close it on the
clock at its end time, whether or not a later event arrives.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import backtrader as bt
import numpy as np

from .broker.data import to_num
from .channels import BookError, Channel, OrderBook, OrderBookChannel, TickChannel
from .channels.book import Updates
from .sources.chunks import to_seconds

if TYPE_CHECKING:
    from .kinds.base import StepContext

__all__ = ["Bars", "ChannelBars", "LiveBars", "bars_of", "channel_bars"]

_UNIT_SECONDS = {bt.TimeFrame.Seconds: 1, bt.TimeFrame.Minutes: 60}
_DAY_NS = 86_400 * 1_000_000_000
_BOOK_FIELDS = {"mid": lambda bid, ask: (bid + ask) / 2.0, "bid": lambda bid, ask: bid, "ask": lambda bid, ask: ask}


class Bars(NamedTuple):
    """OHLCV bars as columns; ``end_ns`` is each bar's close time (and its stamp)."""

    end_ns: np.ndarray  # int64
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.end_ns)


def interval_width_ns(timeframe: int, compression: int) -> int:
    """The length of one bar in nanoseconds; a clear error for what channels cannot resample to."""
    unit = _UNIT_SECONDS.get(timeframe)
    if unit is None:
        names = ", ".join(bt.TimeFrame.Names[tf] for tf in _UNIT_SECONDS)
        raise ValueError(f"resampledata on a channel takes timeframe {names} "
                         f"(got {bt.TimeFrame.Names[timeframe]}); an hour is Minutes with compression=60")
    width = unit * int(compression)
    if compression < 1 or 86_400 % width:
        raise ValueError(f"compression={compression} does not divide a day into whole bars")
    return width * 1_000_000_000


def interval_ends(ts_ns: np.ndarray, width_ns: int) -> np.ndarray:
    """The end of the interval ``[start, end)`` each time falls in (aligned on the day)."""
    return (ts_ns // width_ns + 1) * width_ns  # widths divide the day: day alignment is epoch alignment


def _reduce(ends: np.ndarray, opens: np.ndarray, highs: np.ndarray, lows: np.ndarray, closes: np.ndarray,
            volumes: np.ndarray) -> Bars:
    """One bar per run of equal ``ends`` (rows in time order)."""
    if not len(ends):
        return _NO_BARS
    first = np.flatnonzero(np.diff(ends, prepend=ends[0] - 1))
    last = np.append(first[1:], len(ends)) - 1
    return Bars(ends[first], opens[first], np.maximum.reduceat(highs, first), np.minimum.reduceat(lows, first),
                closes[last], np.add.reduceat(volumes, first))


_NO_BARS = Bars(np.empty(0, np.int64), *(np.empty(0) for _ in range(5)))


def bars_of(ts_ns: np.ndarray, values: np.ndarray, volumes: np.ndarray, width_ns: int) -> Bars:
    """OHLCV bars of values at times ``ts_ns`` (non-decreasing); NaN values are left out."""
    keep = ~np.isnan(values)
    if not keep.all():
        ts_ns, values, volumes = ts_ns[keep], values[keep], volumes[keep]
    return _reduce(interval_ends(ts_ns, width_ns), values, values, values, values, volumes)


def fill_gaps(bars: Bars, width_ns: int) -> Bars:
    """Every interval from the first bar to the last: empty ones flat at the previous close, volume 0."""
    if len(bars) < 2:
        return bars
    ends = np.arange(bars.end_ns[0], bars.end_ns[-1] + 1, width_ns, dtype=np.int64)
    at = np.searchsorted(ends, bars.end_ns)
    marks = np.zeros(len(ends), dtype=np.int64)
    marks[at] = np.arange(len(bars))
    held = np.maximum.accumulate(marks)  # the bar at or before each interval
    present = np.zeros(len(ends), dtype=bool)
    present[at] = True
    close = bars.close[held]
    opens, highs, lows = (np.where(present, column[held], close) for column in (bars.open, bars.high, bars.low))
    return Bars(ends, opens, highs, lows, close, np.where(present, bars.volume[held], 0.0))


def _values(channel: Channel, field: str) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(times ns, values, volumes) of a channel's file, a chunk at a time."""
    source = channel.source
    assert source is not None  # callers check
    if isinstance(channel, TickChannel):
        for chunk in source.chunks():
            yield chunk.ts_ns, chunk.price, chunk.volume
        return
    pick = _BOOK_FIELDS[field]
    book = OrderBook(channel.symbol)  # replayed here: the top of book after each update
    for chunk in source.chunks():
        n = len(chunk)
        updates = Updates.of_columns(to_seconds(chunk.ts_ns), chunk.is_snapshot, chunk.offsets, chunk.side,
                                     chunk.price, chunk.size)
        values = np.full(n, math.nan)
        for k in range(n):
            with contextlib.suppress(BookError):  # a refused update leaves the book as it was (the run counts it)
                book.apply_update(updates, k)
            bid, _, ask, _ = book.top()
            values[k] = pick(bid, ask)
        yield chunk.ts_ns, values, np.zeros(n)


def channel_bars(channel: Channel, field: str, width_ns: int, gaps: bool = False) -> Bars:
    """The bars of a channel's whole file, built a chunk at a time."""
    parts = [_NO_BARS, *(bars_of(ts, values, volumes, width_ns) for ts, values, volumes in _values(channel, field))]
    joined = _reduce(*(np.concatenate(column) for column in zip(*parts, strict=True)))  # bars split by chunks
    return fill_gaps(joined, width_ns) if gaps else joined


def check_field(channel: Channel, field: str) -> None:
    """A clear error for a field the channel's events do not have."""
    allowed = ("price",) if isinstance(channel, TickChannel) else tuple(_BOOK_FIELDS)
    if not isinstance(channel, (TickChannel, OrderBookChannel)):
        raise TypeError(f"resampledata takes a TickChannel or OrderBookChannel, got {type(channel).__name__}")
    if field not in allowed:
        raise ValueError(f"resampledata: a {type(channel).__name__}'s bars are of field {' or '.join(map(repr, allowed))}, "
                         f"not {field!r}")


class ChannelBars(bt.feed.DataBase):
    """A backtrader data feed of OHLCV bars built from a channel (see the module docstring).

    Made by ``cerebro.resampledata(channel, timeframe=..., compression=..., field=...)``;
    to a strategy it is a bar feed like any other. Orders on it trade the channel's symbol.
    """

    params = (("channel", None), ("field", None), ("fill_gaps", False))

    closes_before_trades = True  # a close at ``end`` precedes the events stamped ``end`` (see kinds/bars.py)

    def __init__(self) -> None:
        channel = self.p.channel
        if not isinstance(channel, Channel):
            raise TypeError(f"ChannelBars needs channel= (what add_channel returns), got {channel!r}")
        if self.p.field is None:
            self.p.field = "price" if isinstance(channel, TickChannel) else "mid"
        check_field(channel, self.p.field)
        self.width_ns = interval_width_ns(self.p.timeframe, self.p.compression)
        self.symbol = channel.symbol
        self._rows: Iterator[tuple] = iter(())

    @property
    def channel(self) -> Channel:
        return self.p.channel

    def islive(self) -> bool:
        """Live when its channel has no file: bars then close on the clock (``LiveBars``)."""
        return self.p.channel.source is None

    def start(self) -> None:
        super().start()
        if self.islive():
            self._rows = iter(())
            return
        bars = channel_bars(self.p.channel, self.p.field, self.width_ns, self.p.fill_gaps)
        nums = [to_num(seconds) for seconds in to_seconds(bars.end_ns).tolist()]
        self._rows = zip(nums, *(column.tolist() for column in bars[1:]), strict=True)

    def _load(self) -> bool:
        row = next(self._rows, None)
        if row is None:
            return False
        self._write(*row)
        return True

    def _write(self, num: float, open_: float, high: float, low: float, close: float, volume: float) -> None:
        lines = self.lines
        lines.datetime[0], lines.open[0], lines.high[0], lines.low[0] = num, open_, high, low
        lines.close[0], lines.volume[0], lines.openinterest[0] = close, volume, 0.0

    def append(self, end_ns: int, bar: list[float]) -> None:
        """A live bar: the feed grows by one, as a preloaded feed's ``next`` moves by one."""
        self.forward()
        self._write(to_num(to_seconds(end_ns)), *bar)


class _OpenBar:
    """A live feed's bar being built: its end (ns) and [open, high, low, close, volume]."""

    __slots__ = ("feed", "end_ns", "bar")

    def __init__(self, feed: ChannelBars) -> None:
        self.feed, self.end_ns = feed, 0
        self.bar: list[float] | None = None

    def add(self, ts_ns: int, value: float, volume: float, closed_to: int) -> bool:
        """Take a value; False when its interval had ended on the clock already (late)."""
        if value != value:  # NaN: a book with an empty side
            return True
        bar = self.bar
        if bar is None:
            width = self.feed.width_ns
            end = (ts_ns // width + 1) * width  # as interval_ends
            if end <= closed_to:
                return False
            self.end_ns, self.bar = end, [value, value, value, value, volume]
            return True
        if value > bar[1]:
            bar[1] = value
        if value < bar[2]:
            bar[2] = value
        bar[3] = value
        bar[4] += volume
        return True


class LiveBars:
    """The bar feeds of live channels in a live run: each event updates its channel's open
    bars; a bar closes when the clock reaches its end (``on_clock``) or an event stamped at
    or after its end arrives (``before``), whichever comes first. A closing is one step of
    the strategies (indicators, ``next``, analyzers, observers, writers) at the bar's end time.

    The clock is the venue's: the wall clock less the smallest gap seen between an event's
    arrival (``recv_timestamp``, else when it was handled) and its timestamp, so a machine
    whose clock is off from the exchange's, or a replay of old events, still closes bars at
    their end in event time. An event stamped inside an interval that already ended on the
    clock is counted in ``late`` and left out of the bars (it still reaches the channel and
    the broker).
    """

    def __init__(self, context: StepContext, feeds: list[ChannelBars],
                 step_strategies: Callable[[dict[int, Any]], bool], wall: Callable[[], float] = time.time) -> None:
        gapless = [repr(feed.channel) for feed in feeds if feed.p.fill_gaps]
        if gapless:
            raise ValueError(f"fill_gaps=True is for historical bars; live bars of {', '.join(gapless)} skip "
                             "empty intervals")
        self.context = context
        self._step = step_strategies
        self._wall = wall
        self._open: dict[int, list[_OpenBar]] = {}  # id(channel) -> its feeds' open bars
        for feed in feeds:
            self._open.setdefault(id(feed.channel), []).append(_OpenBar(feed))
        self._all = [bar for bars in self._open.values() for bar in bars]
        self.late = 0
        self._closed_to = 0  # every interval ending at or before this (ns) is over
        self._offset = math.inf  # the wall clock less the venue's (s): the least seen

    def before(self, timestamp: float) -> bool:
        """Close the bars an event at ``timestamp`` comes after; True when the run must stop."""
        return self._close(_ns(timestamp))

    def after(self, channel: Channel, data: Any) -> None:
        """Update ``channel``'s open bars with the event just handled (``data``)."""
        bars = self._open.get(id(channel))
        if bars is None:
            return
        received = getattr(data, "recv_timestamp", None)
        self._offset = min(self._offset, (self._wall() if received is None else received) - data.timestamp)
        ts_ns, closed_to = _ns(data.timestamp), self._closed_to
        if isinstance(channel, TickChannel):
            taken = [bar.add(ts_ns, data.price, data.volume, closed_to) for bar in bars]
        else:
            assert isinstance(channel, OrderBookChannel)  # the other kind bars are made of
            bid, _, ask, _ = channel.book.top()
            taken = [bar.add(ts_ns, _BOOK_FIELDS[bar.feed.p.field](bid, ask), 0.0, closed_to) for bar in bars]
        self.late += not all(taken)

    def on_clock(self) -> bool:
        """Close the bars whose end the clock has reached; True when the run must stop."""
        if self._offset == math.inf:
            return False  # no event yet: no bar is open
        return self._close(_ns(self._wall() - self._offset))

    def _close(self, upto_ns: int) -> bool:
        if upto_ns <= self._closed_to:
            return False
        self._closed_to = upto_ns
        stop = False
        for end in sorted({bar.end_ns for bar in self._all if bar.bar is not None and bar.end_ns <= upto_ns}):
            closing = [bar for bar in self._all if bar.bar is not None and bar.end_ns == end]
            for bar in closing:  # bars of several feeds ending together close in one step
                values, bar.bar = bar.bar, None
                assert values is not None  # closing holds open bars only
                bar.feed.append(end, values)
            self.context.clock.now = to_seconds(end)
            stop = self._step(self._feed_of()) or stop
        return stop


    def _feed_of(self) -> dict[int, Any]:
        """id(ChannelData) -> the first bar feed trading its symbol (markets come as symbols do)."""
        feed_of: dict[int, Any] = {}
        for bar in self._all:
            feed_of.setdefault(id(self.context.broker.market_of(bar.feed).data), bar.feed)
        return feed_of


def _ns(timestamp: float) -> int:
    """Epoch seconds as int nanoseconds, through whole microseconds (as the files' times)."""
    return int(round(timestamp * 1e6)) * 1000
