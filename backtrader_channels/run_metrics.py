"""The numbers of a backtest report, worked out from a run's fills and equity samples.

Trades are round trips of one symbol's position, as backtrader counts them: a trade opens
when the position leaves zero and closes when it is back at zero; a fill that reverses the
position closes one trade and opens the next, its size and fee split between them. Daily
returns are the equity at each UTC day's last sample against the day before (the first day
against the starting cash). Ratios are annualised over 365 days, crypto trading every day:
Sharpe = mean / standard deviation (ddof 1) of the daily returns x sqrt(365); Sortino =
mean / downside deviation (root mean square of the negative daily returns, zeros for the
others) x sqrt(365); Calmar = mean daily return x 365 / max drawdown. Each needs two days
or more (and a non-zero denominator); else it is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from .broker.channel_broker import FillRecord

if TYPE_CHECKING:
    from .result import RunResult

__all__ = ["DAYS_PER_YEAR", "Metrics", "Trade", "compute_metrics", "daily_returns", "drawdown_duration",
           "round_trips"]

DAYS_PER_YEAR = 365  # crypto markets trade every day


@dataclass
class Trade:
    """One round trip of a symbol's position (``is_open``: still open at the end of the run,
    its exit the last price and time, its PnL unrealised)."""

    symbol: str
    side: str  # 'long' or 'short'
    size: float  # the largest absolute position held
    entry_time: float  # epoch seconds of the first fill
    entry_price: float  # average price of the fills that opened or added
    exit_time: float
    exit_price: float  # average price of the fills that reduced or closed (open: the mark)
    pnl_gross: float
    fees: float
    is_open: bool = False

    @property
    def pnl_net(self) -> float:
        return self.pnl_gross - self.fees

    @property
    def duration(self) -> float:
        """Seconds from the first fill to the closing one (open: to the end of the run)."""
        return self.exit_time - self.entry_time

    def record(self) -> dict[str, Any]:
        """The trade as one row of an export (times as ISO 8601 UTC)."""
        row = asdict(self)
        for key in ("entry_time", "exit_time"):
            row[key] = datetime.fromtimestamp(row[key], tz=timezone.utc).isoformat()
        row.update(pnl_net=self.pnl_net, duration_s=self.duration)
        return row


@dataclass
class _Open:
    """A trade being built: entry and exit quantities and values, fees, the position."""

    symbol: str
    time: float
    long: bool
    position: float = 0.0
    peak: float = 0.0
    entry_qty: float = 0.0
    entry_value: float = 0.0
    exit_qty: float = 0.0
    exit_value: float = 0.0
    fees: float = 0.0
    last_time: float = 0.0

    def add(self, time: float, size: float, price: float, fee: float) -> None:
        adding = self.position == 0 or (self.position > 0) == (size > 0)
        if adding:
            self.entry_qty += abs(size)
            self.entry_value += abs(size) * price
        else:
            self.exit_qty += abs(size)
            self.exit_value += abs(size) * price
        self.position += size
        self.peak = max(self.peak, abs(self.position))
        self.fees += fee
        self.last_time = time

    def trade(self, exit_time: float, mark: float | None = None) -> Trade:
        entry = self.entry_value / self.entry_qty
        exit_qty, exit_value = self.exit_qty, self.exit_value
        if mark is not None:  # still open: value what is left at the mark
            exit_qty += abs(self.position)
            exit_value += abs(self.position) * mark
        exit_price = exit_value / exit_qty if exit_qty else entry
        sign = 1.0 if self.long else -1.0
        gross = sign * (exit_value - exit_qty * entry)
        return Trade(self.symbol, "long" if self.long else "short", self.peak, self.time, entry, exit_time, exit_price,
                     gross, self.fees, is_open=mark is not None)


def round_trips(fills: Iterable[FillRecord], marks: dict[str, tuple[float, float]] | None = None) -> list[Trade]:
    """The trades of ``fills`` (in time order) per symbol, closed ones first in the order
    they closed, then one per position still open when ``marks`` gives its symbol's
    ``(time, price)`` at the end (unrealised PnL at that price)."""
    building: dict[str, _Open] = {}
    closed: list[Trade] = []
    for fill in fills:
        time, symbol, size, price, fee = fill.timestamp, fill.symbol, fill.size, fill.price, fill.commission
        while size:
            current = building.get(symbol)
            if current is None:
                current = building[symbol] = _Open(symbol, time, long=size > 0)
            position = current.position
            reverses = position != 0 and (position > 0) != (size > 0) and abs(size) > abs(position)
            part = -position if reverses else size
            share = part / size
            current.add(time, part, price, fee * share)
            size, fee = size - part, fee * (1 - share)
            if abs(current.position) < 1e-12 * max(current.peak, 1.0):
                closed.append(current.trade(time))
                del building[symbol]
    opened = [current.trade(marks[symbol][0], marks[symbol][1])
              for symbol, current in building.items() if marks and symbol in marks]
    return closed + opened


def daily_returns(times: np.ndarray, values: np.ndarray, start: float) -> list[tuple[str, float, float]]:
    """``(day 'YYYY-MM-DD', equity at the day's last sample, return on the day before)`` per
    UTC day with samples; the first day's return is on ``start``. A sample at 00:00:00 is
    the end of the day before (but for the first sample)."""
    if not len(times):
        return []
    times = np.asarray(times, dtype=float)
    days = (times // 86_400).astype(np.int64)
    days[1:] -= times[1:] % 86_400 == 0  # a sample at midnight (a day's last bar close) ends the day before
    last = np.flatnonzero(np.r_[days[1:] != days[:-1], True])
    rows, before = [], start
    for index in last:
        equity = float(values[index])
        day = datetime.fromtimestamp(int(days[index]) * 86_400, tz=timezone.utc).strftime("%Y-%m-%d")
        rows.append((day, equity, equity / before - 1.0 if before else 0.0))
        before = equity
    return rows


def drawdown_duration(times: np.ndarray, values: np.ndarray) -> float:
    """The longest time, in seconds, the equity spent under its running peak: from the peak
    to the first sample back at or above it (or to the last sample, if it never was)."""
    longest, peak, peak_time, under = 0.0, -math.inf, 0.0, False
    for time, value in zip(np.asarray(times, dtype=float), np.asarray(values, dtype=float)):
        if value >= peak:
            if under:
                longest = max(longest, time - peak_time)
            peak, peak_time, under = value, time, False
        else:
            under = True
    if under:
        longest = max(longest, float(times[-1]) - peak_time)
    return float(longest)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 and math.isfinite(numerator) else None


@dataclass
class Metrics:
    """The report's numbers for one run (see the module's docstring for the definitions)."""

    start_cash: float
    end_value: float
    pnl: float
    return_pct: float
    trades: int
    won: int
    win_rate: float | None  # fraction of closed trades with a positive net PnL
    profit_factor: float | None  # gross wins / gross losses, net of fees; None without a loss
    average_trade: float | None  # net PnL
    best_trade: float | None
    worst_trade: float | None
    average_duration: float | None  # seconds
    exposure: float  # fraction of the run's time with a position open
    max_drawdown: float  # fraction of the peak
    max_drawdown_money: float
    max_drawdown_duration: float  # seconds
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    fees: float
    days: list[tuple[str, float, float]] = field(default_factory=list)  # (day, end equity, return)
    open_trades: list[Trade] = field(default_factory=list)
    closed_trades: list[Trade] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        """The summary as (label, value) rows."""
        def money(value: float | None) -> str:
            return "n/a" if value is None else f"{value:+,.2f}"

        def number(value: float | None, form: str = ".2f") -> str:
            return "n/a" if value is None else format(value, form)

        rows = [
            ("trades closed", f"{self.trades} ({self.won} won)"),
            ("win rate", "n/a" if self.win_rate is None else f"{100 * self.win_rate:.1f}%"),
            ("profit factor", number(self.profit_factor)),
            ("average trade", money(self.average_trade)),
            ("best trade", money(self.best_trade)),
            ("worst trade", money(self.worst_trade)),
            ("average duration", "n/a" if self.average_duration is None else _duration(self.average_duration)),
            ("exposure", f"{100 * self.exposure:.1f}%"),
            ("max drawdown", f"{100 * self.max_drawdown:.2f}% ({self.max_drawdown_money:,.2f})"),
            ("max drawdown duration", _duration(self.max_drawdown_duration)),
            ("Sharpe (365 d)", number(self.sharpe)),
            ("Sortino (365 d)", number(self.sortino)),
            ("Calmar (365 d)", number(self.calmar)),
            ("fees", f"{self.fees:,.2f}"),
        ]
        for trade in self.open_trades:
            rows.append((f"open at end {trade.symbol}",
                         f"{trade.side} {trade.size:g} @ {trade.entry_price:,.2f}, "
                         f"unrealised {trade.pnl_gross:+,.2f} at {trade.exit_price:,.2f}"))
        if not self.open_trades:
            rows.append(("open at end", "none (flat)"))
        return rows

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: trades as export rows, days as objects."""
        data = {key: value for key, value in asdict(self).items()
                if key not in ("days", "open_trades", "closed_trades")}
        data["days"] = [{"day": day, "equity": equity, "return": ret} for day, equity, ret in self.days]
        data["open_trades"] = [trade.record() for trade in self.open_trades]
        data["closed_trades"] = [trade.record() for trade in self.closed_trades]
        return data


def _duration(seconds: float) -> str:
    """``1d 02:03:04`` / ``02:03:04``."""
    whole = int(round(seconds))
    days, rest = divmod(whole, 86_400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def compute_metrics(result: RunResult) -> Metrics:
    """The report's numbers of ``result``: trades from its fills (positions still open
    valued at the last price of the first symbol, or the last fill's price of the others),
    drawdowns, exposure and ratios from its equity samples."""
    times, values = np.asarray(result.equity_times, float), np.asarray(result.equity_values, float)
    end = float(times[-1]) if len(times) else (result.fills[-1].timestamp if result.fills else 0.0)
    marks = {fill.symbol: (end, fill.price) for fill in result.fills}
    if len(result.prices) and result.symbol in marks:
        marks[result.symbol] = (end, float(result.prices[-1]))
    trades = round_trips(result.fills, marks)
    closed = [trade for trade in trades if not trade.is_open]
    net = [trade.pnl_net for trade in closed]
    wins = sum(pnl for pnl in net if pnl > 0)
    losses = -sum(pnl for pnl in net if pnl < 0)
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    held = sum(trade.duration for trade in trades)  # an open trade's runs to the end
    days = daily_returns(times, values, result.start_cash)
    returns = np.array([ret for *_, ret in days])
    drawdown, drawdown_money = result.max_drawdown, result.max_drawdown_money
    sharpe = sortino = calmar = None
    if len(returns) >= 2:
        mean = float(returns.mean())
        sharpe = _ratio(mean, float(returns.std(ddof=1)))
        sortino = _ratio(mean, float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))))
        sharpe = None if sharpe is None else sharpe * math.sqrt(DAYS_PER_YEAR)
        sortino = None if sortino is None else sortino * math.sqrt(DAYS_PER_YEAR)
        calmar = _ratio(mean * DAYS_PER_YEAR, drawdown)
    return Metrics(
        start_cash=result.start_cash, end_value=result.end_value, pnl=result.pnl, return_pct=result.return_pct,
        trades=len(closed), won=sum(pnl > 0 for pnl in net),
        win_rate=sum(pnl > 0 for pnl in net) / len(net) if net else None,
        profit_factor=_ratio(wins, losses),
        average_trade=sum(net) / len(net) if net else None,
        best_trade=max(net) if net else None, worst_trade=min(net) if net else None,
        average_duration=sum(t.duration for t in closed) / len(closed) if closed else None,
        exposure=min(held / span, 1.0) if span > 0 else 0.0,
        max_drawdown=drawdown, max_drawdown_money=drawdown_money,
        max_drawdown_duration=drawdown_duration(times, values),
        sharpe=sharpe, sortino=sortino, calmar=calmar, fees=result.fees, days=days,
        open_trades=[trade for trade in trades if trade.is_open], closed_trades=closed,
    )
