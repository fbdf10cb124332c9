"""A deterministic synthetic BTC/USDT market hour: trades and an L2 book for demos, docs, tests.

Prices are integer ticks of 0.01 USDT and sizes integer lots of 0.00001 BTC until the end,
so every number written is an exact decimal. The model, in the order it is built:

* trade times: a Hawkes process (every trade may trigger more trades) over a background rate
  that switches between quiet, normal and busy regimes, giving bursts and quiet stretches;
* price: each trade carries a random impact, mostly in its own direction; the best bid moves
  by the summed impact of each 100 ms interval's trades, the spread is mostly one tick;
* book: the touch queues are consumed by the trades and topped up or re-quoted; deeper levels
  rest on a fixed random ladder of prices per side, re-quoted now and then, larger further out;
* a trade in interval ``k`` prints at the touch of the book as updated at the start of ``k``
  (buys at the ask, sells at the bid) and the interval's trades never take more than that
  touch holds, so trades and book agree at every moment.
"""

from __future__ import annotations

import errno
import math
from dataclasses import dataclass
from os import PathLike, fspath
from pathlib import Path

import numpy as np

from .sources.chunks import BookChunk, TradeChunk
from .sources.writers import write_book, write_trades

__all__ = ["SampleFiles", "ensure_sample", "generate_sample", "sample_market"]

DEFAULT_START = 1_735_689_600.0  # 2025-01-01T00:00:00Z
TICKS_PER_USDT = 100
LOTS_PER_BTC = 100_000
UPDATE_NS = 100_000_000  # one book update every 100 ms
FIRST_TRADE_ID = 4_300_000_001
START_BID = 9_399_999  # 93,999.99 USDT

# trade arrivals
TRADES_PER_HOUR = 36_000
BRANCHING = 0.85  # mean number of trades each trade triggers
TRIGGER_DELAY_S = 0.4  # mean delay of a triggered trade
REGIME_RATES = (0.15, 1.0, 3.0)  # background rate of quiet, normal, busy stretches
REGIME_ODDS = (0.3, 0.45, 0.25)
REGIME_MEAN_S = 180.0

# price and trades
IMPACT_TICKS = 240.0  # std of one trade's price impact: ~0.5 % hourly volatility
DIRECTION_NOISE = 0.6  # how loosely a trade's direction follows its impact
TRADE_LOTS, TRADE_SIGMA = 200, 1.5  # median 0.002 BTC, heavy tail

# book
TOUCH_LOTS, TOUCH_SIGMA = 8_000, 1.0  # touch queue: median 0.08 BTC
TOP_UP_LOTS = 3_000  # median size that joins or leaves a touch queue
DEPTH_LOTS, DEPTH_SIGMA = 1_500, 1.0  # resting level: median 0.015 BTC near the market...
DEPTH_SCALE_TICKS = 80  # ...growing by that much every 0.80 USDT further out
MIN_LOTS, MAX_LOTS = 100, 500_000  # 0.001 .. 5 BTC per level
LADDER_GAP_TICKS = 40  # mean distance between resting levels
REQUOTE_INTERVALS = (10, 100)  # a resting level is re-quoted every 1 to 10 s


@dataclass(frozen=True)
class SampleFiles:
    """Paths of a generated sample: project trades CSV and project book JSONL, both gzipped."""

    trades: Path
    book: Path


def generate_sample(
    out_dir: str | PathLike,
    *,
    seed: int = 7,
    duration: float = 3600.0,
    start: float = DEFAULT_START,
    levels: int = 20,
    symbol: str = "BTC/USDT",
) -> SampleFiles:
    """Write the sample market of ``sample_market`` to ``out_dir`` (created if needed)."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder (the sample is written into a folder)", fspath(out_dir))
    files = _sample_files(out_dir, symbol)
    trades, book = sample_market(
        seed=seed, duration=duration, start=start, levels=levels, symbol=symbol
    )
    files.trades.parent.mkdir(parents=True, exist_ok=True)
    write_trades(files.trades, [trades], symbol=symbol)
    write_book(files.book, [book])
    return files


def ensure_sample(out_dir: str | PathLike, **kw) -> SampleFiles:
    """The sample files in ``out_dir``, generated (with ``kw``) only if one is missing."""
    files = _sample_files(out_dir, kw.get("symbol", "BTC/USDT"))
    if files.trades.exists() and files.book.exists():
        return files
    return generate_sample(out_dir, **kw)


def sample_market(
    *,
    seed: int = 7,
    duration: float = 3600.0,
    start: float = DEFAULT_START,
    levels: int = 20,
    symbol: str = "BTC/USDT",
) -> tuple[TradeChunk, BookChunk]:
    """The trades and book updates of a synthetic market, as arrays (same seed, same arrays).

    ``symbol`` only names the files of ``generate_sample``; the market is the same.
    """
    del symbol
    if not (math.isfinite(duration) and duration > 0) or levels < 1:
        raise ValueError(f"duration must be a positive number of seconds and levels at least 1, "
                         f"got {duration!r} and {levels!r}")
    rng = np.random.default_rng(seed)
    start_ns, span_ns = round(start * 1e9), round(duration * 1e9)
    n_updates = -(-span_ns // UPDATE_NS)

    # trades as they would like to happen: time, interval, impact, side, size
    ms = np.minimum(_trade_times(rng, duration) * 1000.0, (span_ns - 1) // 1_000_000)
    offset_ns = ms.astype(np.int64) * 1_000_000
    interval = offset_ns // UPDATE_NS
    impact = rng.standard_normal(len(ms))
    is_sell = impact + DIRECTION_NOISE * rng.standard_normal(len(ms)) < 0
    lots = _lognormal_lots(rng, TRADE_LOTS, TRADE_SIGMA, len(ms), low=1)

    # the touch: the bid moves by each interval's impact, the ask sits a spread above
    move = np.rint(IMPACT_TICKS * np.bincount(interval, impact, minlength=n_updates))
    bid = START_BID + np.concatenate(([0], np.cumsum(move[:-1]))).astype(np.int64)
    ask = bid + _spreads(rng, move)

    # touch queues, and the trades cut to what they hold
    def demand(side: np.ndarray) -> np.ndarray:
        return np.bincount(interval[side], lots[side], minlength=n_updates).astype(np.int64)

    bid_queue = _touch_queue(rng, bid, demand(is_sell))
    ask_queue = _touch_queue(rng, ask, demand(~is_sell))
    lots = _fit_to_queues(interval, is_sell, lots, bid_queue, ask_queue)
    done = lots > 0
    interval, is_sell, lots = interval[done], is_sell[done], lots[done]
    trades = TradeChunk(
        ts_ns=start_ns + offset_ns[done],
        price=np.where(is_sell, bid[interval], ask[interval]) / TICKS_PER_USDT,
        volume=lots / LOTS_PER_BTC,
        is_sell=is_sell,
        trade_id=FIRST_TRADE_ID + np.arange(len(lots), dtype=np.int64),
    )

    # the book: the touch in front of the resting levels, best first, per side
    sides = []
    for sign, touch, queue in ((-1, bid, bid_queue), (1, ask, ask_queue)):
        away, deep_lots = _resting_levels(rng, sign * touch, levels - 1)
        sides.append((np.column_stack((touch, sign * away)), np.column_stack((queue, deep_lots))))
    update_ns = start_ns + np.arange(n_updates, dtype=np.int64) * UPDATE_NS
    return trades, _book_chunk(update_ns, sides)


# --- trades -------------------------------------------------------------------------------


def _trade_times(rng: np.random.Generator, duration: float) -> np.ndarray:
    """Sorted trade times in seconds from the start: a Hawkes process over regimes.

    Background trades arrive at a rate that switches between ``REGIME_RATES``, scaled so the
    expected total is ``TRADES_PER_HOUR``; each trade then triggers a Poisson number of
    trades (mean ``BRANCHING``) after exponential delays, generation by generation.
    """
    lengths = rng.exponential(REGIME_MEAN_S, int(3 * duration / REGIME_MEAN_S) + 3)
    edges = np.concatenate(([0.0], np.minimum(np.cumsum(lengths), duration)))
    edges[-1] = duration
    spans = np.diff(edges)
    rates = rng.choice(REGIME_RATES, len(spans), p=REGIME_ODDS)
    background = TRADES_PER_HOUR / 3600 * (1 - BRANCHING) * duration / (rates @ spans)
    counts = rng.poisson(background * rates * spans)
    generation = np.repeat(edges[:-1], counts) + rng.random(counts.sum()) * np.repeat(spans, counts)
    times = [generation]
    while len(generation):
        children = rng.poisson(BRANCHING, len(generation))
        generation = np.repeat(generation, children) + rng.exponential(
            TRIGGER_DELAY_S, children.sum()
        )
        generation = generation[generation < duration]
        times.append(generation)
    return np.sort(np.concatenate(times))


def _lognormal_lots(
    rng: np.random.Generator, median: float, sigma: float, n: int, low: int = MIN_LOTS
) -> np.ndarray:
    """``n`` lognormal sizes in lots, clipped to [low, MAX_LOTS]."""
    lots = np.rint(median * np.exp(sigma * rng.standard_normal(n)))
    return np.clip(lots, low, MAX_LOTS).astype(np.int64)


def _spreads(rng: np.random.Generator, move: np.ndarray) -> np.ndarray:
    """Spread in ticks per interval: 1 most of the time, redrawn only when the price moved."""
    n = len(move)
    fresh = np.where(rng.random(n) < 0.7, 1, np.minimum(1 + rng.geometric(0.4, n), 20))
    redraw = np.concatenate(([True], move[:-1] != 0))
    return fresh[np.maximum.accumulate(np.where(redraw, np.arange(n), 0))]


def _touch_queue(rng: np.random.Generator, touch: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Lots at the touch after each update, given the lots the interval's trades want to take.

    A new touch price gets a fresh queue; an unchanged one keeps what the trades left,
    sometimes topped up or partly cancelled, and is re-quoted if less than MIN_LOTS is left.
    """
    n = len(touch)
    fresh = _lognormal_lots(rng, TOUCH_LOTS, TOUCH_SIGMA, n).tolist()
    u = rng.random(n)
    change = _lognormal_lots(rng, TOP_UP_LOTS, 1.0, n)
    change = np.where(u < 0.15, change, np.where(u > 0.95, -change, 0)).tolist()
    same = np.concatenate(([False], touch[1:] == touch[:-1])).tolist()
    wanted = demand.tolist()
    queue = [0] * n
    left = 0
    for k in range(n):
        size = left + change[k] if same[k] else 0
        queue[k] = size = size if size >= MIN_LOTS else fresh[k]
        left = size - min(size, wanted[k])
    return np.array(queue, dtype=np.int64)


def _fit_to_queues(
    interval: np.ndarray,
    is_sell: np.ndarray,
    lots: np.ndarray,
    bid_queue: np.ndarray,
    ask_queue: np.ndarray,
) -> np.ndarray:
    """Cut each trade (in time order) to what its interval's touch still holds; 0 = no trade."""
    group = 2 * interval + is_sell
    order = np.argsort(group, kind="stable")
    before = np.cumsum(lots[order]) - lots[order]  # lots taken by the trades before
    first = np.diff(group[order], prepend=-1) != 0
    before -= np.maximum.accumulate(np.where(first, before, 0))  # ...in the same group
    queue = np.where(is_sell, bid_queue[interval], ask_queue[interval])[order]
    fitted = np.empty_like(lots)
    fitted[order] = np.clip(queue - before, 0, lots[order])
    return fitted


# --- book ---------------------------------------------------------------------------------


def _resting_levels(
    rng: np.random.Generator, touch: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``depth`` resting levels behind the touch per update: (ticks, lots), best first.

    Works on "distance" ticks that grow away from the market (bid ticks negated). Levels
    sit on a fixed random ladder (gaps of 1 to 2 * LADDER_GAP_TICKS - 1, so ``depth`` of them
    always fit within a known reach); each is re-quoted on its own period, with a size that
    grows with its distance from the touch when quoted; a level coming into view is quoted
    afresh, small just behind a rising touch, large at the far end of the book.
    """
    n = len(touch)
    low, reach = int(touch.min()) + 1, depth * (2 * LADDER_GAP_TICKS - 1)
    gaps = rng.integers(1, 2 * LADDER_GAP_TICKS, int(touch.max()) + reach - low + 1)
    ladder = low - 1 + np.cumsum(gaps)
    ladder = ladder[: np.searchsorted(ladder, touch.max() + reach, "right")]
    period = rng.integers(*REQUOTE_INTERVALS, len(ladder))
    phase = rng.integers(0, period)

    level = np.searchsorted(ladder, touch, "right")[:, None] + np.arange(depth)
    k = np.arange(n)[:, None]
    requoted = (k + phase[level]) // period[level] * period[level] - phase[level]
    quoted_at = np.maximum(requoted, _in_view_since(level))
    distance = ladder[level] - touch[quoted_at]
    quotes, which = np.unique(level * n + quoted_at, return_inverse=True)
    scale = np.exp(DEPTH_SIGMA * rng.standard_normal(len(quotes)))[which.reshape(level.shape)]
    lots = np.rint(DEPTH_LOTS * scale * (1 + distance / DEPTH_SCALE_TICKS))
    return ladder[level], np.clip(lots, MIN_LOTS, MAX_LOTS).astype(np.int64)


def _in_view_since(level: np.ndarray) -> np.ndarray:
    """For each (update, column) of ``level``: the update since which that level is in view."""
    n, depth = level.shape
    update = np.repeat(np.arange(n), depth)
    order = np.lexsort((update, level.ravel()))
    sorted_level, sorted_update = level.ravel()[order], update[order]
    new_run = (np.diff(sorted_level, prepend=-1) != 0) | (np.diff(sorted_update, prepend=-2) != 1)
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(order)), 0))
    since = np.empty_like(update)
    since[order] = sorted_update[run_start]
    return since.reshape(n, depth)


def _book_chunk(update_ns: np.ndarray, sides: list[tuple[np.ndarray, np.ndarray]]) -> BookChunk:
    """A snapshot of the first rows, then per update only the levels that changed.

    ``sides`` holds (ticks, lots) matrices for the bids then the asks: one row per update,
    best level first. An update that changes nothing is left out.
    """
    columns = zip(*(_changes(side, *m) for side, m in enumerate(sides)), strict=True)
    update, side, tick, lots = (np.concatenate(column) for column in columns)
    order = np.lexsort((np.where(side == 1, tick, -tick), side, update))  # best first
    update, side, tick, lots = update[order], side[order], tick[order], lots[order]
    updates = np.unique(update)
    offsets = np.append(np.searchsorted(update, updates), len(update))
    return BookChunk(
        ts_ns=update_ns[updates],
        is_snapshot=updates == 0,
        offsets=offsets.astype(np.int64),
        side=side,
        price=tick / TICKS_PER_USDT,
        size=lots / LOTS_PER_BTC,
    )


def _changes(side: int, ticks: np.ndarray, lots: np.ndarray) -> tuple[np.ndarray, ...]:
    """(update, side, tick, lots) of one side: the first row in full, then at each update
    the levels that appear or change size, and those that disappear (lots 0)."""
    sign = 1 if side else -1
    away = sign * ticks  # ascending along every row
    base, width = away.min(), away.max() - away.min() + 1
    # one key per (update, level), sorted: each row from 1 on, and the row before it
    row = np.arange(1, len(ticks))[:, None] * width
    now, before = (row + away[1:] - base).ravel(), (row + away[:-1] - base).ravel()
    now_lots, before_lots = lots[1:].ravel(), lots[:-1].ravel()
    at = np.searchsorted(before, now)
    changed = (before.take(at, mode="clip") != now) | (
        before_lots.take(at, mode="clip") != now_lots
    )
    removed = now.take(np.searchsorted(now, before), mode="clip") != before
    keys = np.concatenate((now[changed], before[removed]))
    update = np.concatenate((np.zeros(ticks.shape[1], np.int64), keys // width))
    tick = np.concatenate((ticks[0], sign * (keys % width + base)))
    new_lots = np.concatenate((lots[0], now_lots[changed], np.zeros(removed.sum(), np.int64)))
    return update, np.full(len(update), side, np.int8), tick, new_lots


def _sample_files(out_dir: str | PathLike, symbol: str) -> SampleFiles:
    stem = Path(out_dir) / f"{symbol.replace('/', '').upper()}-sample"
    return SampleFiles(Path(f"{stem}-trades.csv.gz"), Path(f"{stem}-book.jsonl.gz"))
