"""Run one bar strategy twice: on tick data through ``cerebro.resampledata(channel, ...)`` and
in plain backtrader on the same 1-minute bars, built here from the same trades with numpy
(independently of the plugin's own bar builder) and read back from a CSV file.

Trades are a seeded random walk written to a Parquet file: most minutes have several
trades, ``gaps`` lists minutes without any. Strategies derive from ``Recorded``, which
logs every order created (bar time, side, type, size, price) and every fill (price, size,
time), and the crossover signals they compute, so the two runs can be compared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np

import backtrader_channels as bc
from backtrader_channels.sources import TradeChunk, write_trades

T0 = 1_735_689_600  # 2025-01-01T00:00:00Z
MINUTE_NS = 60 * 10**9


@dataclass
class Trades:
    """One symbol's generated trades (times in int ns) and the file they were written to."""

    symbol: str
    ts_ns: np.ndarray
    price: np.ndarray
    volume: np.ndarray
    path: Path

    def after(self, seconds: float, strictly: bool = False) -> np.ndarray:
        """Indices of the trades at (or strictly after) ``seconds``."""
        cut = np.searchsorted(self.ts_ns, int(round(seconds * 1e6)) * 1000, side="right" if strictly else "left")
        return np.arange(cut, len(self.ts_ns))


def generate(tmp_path: Path, seed: int, minutes: int = 240, gaps: Iterable[int] = (), symbol: str = "BTC/USDT",
             start: float = 100.0) -> Trades:
    """A random walk of trades: 1 to 30 per minute at distinct milliseconds, none in ``gaps``."""
    rng = np.random.default_rng(seed)
    times: list[np.ndarray] = []
    skipped = set(gaps)
    for minute in range(minutes):
        if minute in skipped:
            continue
        count = int(rng.integers(1, 31))
        ms = np.sort(rng.choice(60_000, size=count, replace=False))
        times.append(T0 * 10**9 + (minute * 60_000 + ms).astype(np.int64) * 1_000_000)
    ts_ns = np.concatenate(times)
    price = np.round(start + np.cumsum(rng.normal(0.0, 0.04, len(ts_ns))), 2)
    volume = np.round(rng.uniform(0.001, 2.0, len(ts_ns)), 3)
    path = tmp_path / f"{symbol.replace('/', '')}-{seed}.parquet"
    write_trades(path, [TradeChunk(ts_ns, price, volume, rng.random(len(ts_ns)) < 0.5, None)])
    return Trades(symbol, ts_ns, price, volume, path)


def minute_bars_csv(trades: Trades, path: Path, fill_gaps: bool = False) -> Path:
    """1-minute OHLCV bars of ``trades`` (each covering [start, end), stamped at its end; open
    interest 0, as channel bars have) as a CSV."""
    minute = trades.ts_ns // MINUTE_NS
    keys, first = np.unique(minute, return_index=True)
    last = np.append(first[1:], len(minute)) - 1
    rows = {int(key): (trades.price[a], trades.price[a:b + 1].max(), trades.price[a:b + 1].min(), trades.price[b],
                       trades.volume[a:b + 1].sum()) for key, a, b in zip(keys, first, last)}
    if fill_gaps:
        previous = None
        for key in range(int(keys[0]), int(keys[-1]) + 1):
            if key in rows:
                previous = rows[key][3]
            else:
                rows[key] = (previous, previous, previous, previous, 0.0)
    lines = ["datetime,open,high,low,close,volume,openinterest"]
    for key in sorted(rows):
        end = dt.datetime.fromtimestamp((key + 1) * 60, tz=dt.timezone.utc).replace(tzinfo=None)
        lines.append(f"{end:%Y-%m-%d %H:%M:%S}," + ",".join(repr(float(value)) for value in rows[key]) + ",0")
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_feed(path: Path) -> bt.feeds.GenericCSVData:
    return bt.feeds.GenericCSVData(dataname=str(path), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
                                   datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=6)


class Recorded(bt.Strategy):
    """A strategy whose orders, fills and signals are logged for the comparison.

    Subclasses call ``self.signal(value)`` for what they decide on (a crossover), and call
    ``super().notify_order(order)`` when they override it.
    """

    def _log(self, name: str) -> list:
        return self.__dict__.setdefault(name, [])

    @property
    def made(self) -> list:
        """(bar time, 'Buy'/'Sell', exectype name, size, price) of each order, in order."""
        return self._log("_log_made")

    @property
    def made_refs(self) -> list:
        """The ref of each order in ``made`` (refs count across runs, so they are kept apart)."""
        return self._log("_log_made_refs")

    @property
    def filled(self) -> list:
        """(order ref, exectype name, executed price, executed size, fill time) of each completed order."""
        return self._log("_log_filled")

    @property
    def crosses(self) -> list:
        """(bar time, value) of each crossover the strategy decided on."""
        return self._log("_log_crosses")

    def bar_time(self) -> dt.datetime:
        return self.datas[0].datetime.datetime(0)

    def signal(self, value: float) -> None:
        if value:
            self.crosses.append((self.bar_time(), value))

    def buy(self, *args: Any, **kwargs: Any) -> Any:
        return self._made(super().buy(*args, **kwargs))

    def sell(self, *args: Any, **kwargs: Any) -> Any:
        return self._made(super().sell(*args, **kwargs))

    def _made(self, order: Any) -> Any:
        if order is not None:
            self.made.append((self.bar_time(), order.ordtypename(), order.getordername(), abs(order.size),
                                 order.price))
            self.made_refs.append(order.ref)
        return order

    def notify_order(self, order: Any) -> None:
        if order.status == order.Completed:
            when = getattr(self, "event_datetime", None) if self.env.__dict__.get("_bc_engine") else None
            moment = when.replace(tzinfo=None) if when is not None else bt.num2date(order.executed.dt)
            self.filled.append((order.ref, order.getordername(), order.executed.price, order.executed.size, moment))


@dataclass
class Runs:
    """The two runs of one strategy: on ticks and in plain backtrader."""

    ticks: Any
    plain: Any
    tick_cerebro: bt.Cerebro
    plain_cerebro: bt.Cerebro


def run_both(tmp_path: Path, strategy: type[bt.Strategy], trades: list[Trades], fill_gaps: bool = False,
             setup: Callable[[bt.Cerebro], None] | None = None, stdstats: bool = False, cash: float = 100_000.0,
             **params: Any) -> Runs:
    """``strategy`` over ``trades`` (one data per symbol, in that order), tick-accurate and plain."""
    results = []
    cerebros = []
    for tick_mode in (True, False):
        cerebro = bt.Cerebro(stdstats=stdstats)
        cerebro.broker.setcash(cash)
        cerebro.broker.setcommission(commission=0.001)
        for item in trades:
            if tick_mode:
                channel = cerebro.add_channel(bc.TickChannel, symbol=item.symbol, dataname=item.path)
                cerebro.resampledata(channel, timeframe=bt.TimeFrame.Minutes, compression=1, fill_gaps=fill_gaps)
            else:
                bars = minute_bars_csv(item, tmp_path / f"{item.symbol.replace('/', '')}-bars.csv", fill_gaps)
                cerebro.adddata(csv_feed(bars), name=item.symbol)
        if setup is not None:
            setup(cerebro)
        cerebro.addstrategy(strategy, **params)
        (result,) = cerebro.run(mode=bt.RunMode.TICK) if tick_mode else cerebro.run()
        results.append(result)
        cerebros.append(cerebro)
    return Runs(results[0], results[1], cerebros[0], cerebros[1])


def fills_by_ref(strategy: Recorded) -> dict[int, tuple[float, float, float]]:
    """order ref -> (fill time in epoch milliseconds, price, size)."""
    return {ref: (round(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000), price, size)
            for ref, _, price, size, moment in strategy.filled}


def market_fills(fills: list) -> list[tuple[float, float]]:
    """(price, size) of the market fills."""
    return [(price, size) for _, kind, price, size, _ in fills if kind == "Market"]
