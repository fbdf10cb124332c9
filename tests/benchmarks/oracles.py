"""Expected results for the benchmarks' checks, computed with numpy straight from the files.

They read the generated Parquet and CSV with pyarrow and numpy only, never through the
package's readers or engine, so a benchmark that got faster by getting wrong fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class Totals(NamedTuple):
    rows: int
    notional: float  # sum of price * volume
    volume: float
    last_prices: np.ndarray  # the last 20 prices


def trade_columns(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(timestamp ns, price, volume) of a project Parquet trades file, batch by batch."""
    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches(columns=["timestamp", "price", "volume"]):
            ts_ns = batch.column(0).cast(pa.int64()).to_numpy()
            yield ts_ns, batch.column(1).to_numpy(), batch.column(2).to_numpy()


def trade_totals(path: Path) -> Totals:
    rows, notional, volume, last = 0, 0.0, 0.0, np.empty(0)
    for _, price, size in trade_columns(path):
        rows += len(price)
        notional += float(np.dot(price, size))
        volume += float(size.sum())
        last = np.concatenate([last, price])[-20:]
    return Totals(rows, notional, volume, last)


def bar_closes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Close times (ns) and close prices of a bars CSV (datetime,open,high,low,close,volume)."""
    lines = path.read_text().splitlines()[1:]
    fields = [line.split(",") for line in lines]
    stamps = np.array([f[0].replace(" ", "T") for f in fields], dtype="datetime64[ns]").astype(np.int64)
    return stamps, np.array([float(f[4]) for f in fields])


def limit_fills(trades: Path, bars: Path, step: float, pairs: int) -> list[float]:
    """Fill prices of ``RestingLimits``: at each bar close ``c``, buy limits at ``c - k*step``
    and sell limits at ``c + k*step`` (k = 1..pairs) rest until the next bar close; a buy
    fills at its limit once a later trade prints below it, a sell once one prints above."""
    closes_at, closes = bar_closes(bars)
    low = np.full(len(closes), np.inf)
    high = np.full(len(closes), -np.inf)
    for ts_ns, price, _ in trade_columns(trades):
        bar = np.searchsorted(closes_at, ts_ns, side="left") - 1  # the last close strictly before
        seen = bar >= 0
        np.minimum.at(low, bar[seen], price[seen])
        np.maximum.at(high, bar[seen], price[seen])
    fills: list[float] = []
    for k in range(1, pairs + 1):
        buys, sells = closes - k * step, closes + k * step
        fills += buys[low < buys].tolist() + sells[high > sells].tolist()
    return sorted(fills)


def ema_flip_fills(path: Path, fast: float = 0.1, slow: float = 0.01, size: float = 0.01) -> list[float]:
    """Signed fill prices (+ buy, - sell) of ``EmaFlip``: a market order sent on trade i fills
    at trade i + 1's price; buys on the fast EMA crossing above the slow one, sells (of the
    position) on crossing below while long."""
    prices = np.concatenate([price for _, price, _ in trade_columns(path)]).tolist()
    fills: list[float] = []
    fast_ema = slow_ema = prices[0]
    above, position, pending = None, 0.0, None
    for price in prices:
        if pending is not None:  # the order sent on the trade before fills at this one
            position += pending
            fills.append(price if pending > 0 else -price)
            pending = None
        fast_ema += fast * (price - fast_ema)
        slow_ema += slow * (price - slow_ema)
        now_above = fast_ema > slow_ema
        if now_above != above:
            above = now_above
            if now_above:
                pending = size
            elif position > 0:
                pending = -position
    return fills


def book_top(path: Path) -> tuple[float, float, int]:
    """(best bid, best ask, levels) after applying every update of a Parquet book in order
    (the generated books have one snapshot, first)."""
    table = pq.read_table(path, columns=["side", "price", "size"])
    is_ask = table["side"].cast(pa.string()).to_numpy(zero_copy_only=False) == "ask"
    price, size = table["price"].to_numpy(), table["size"].to_numpy()
    keys = np.where(is_ask, price, -price)  # bids and asks never share a price here
    _, last_from_end = np.unique(keys[::-1], return_index=True)
    last = len(keys) - 1 - last_from_end
    live = last[size[last] > 0]
    bids, asks = price[live][~is_ask[live]], price[live][is_ask[live]]
    return float(bids.max()), float(asks.min()), len(live)
