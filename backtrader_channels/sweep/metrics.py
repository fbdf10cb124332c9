"""The numbers of a sweep row, from a run's ``tick_result``: one run, or one day of a run.

Sharpe ratio: the equity curve is read once a minute (the last value at or before each
minute mark, from the first sample), the minute returns' mean over their standard deviation
(ddof=1), annualised by sqrt(minutes in 365 days) since crypto markets never close; no
risk-free rate. A curve with fewer than two minute returns, or returns that never vary,
has a Sharpe ratio of 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np

from ..result import RunResult, max_drawdown

__all__ = ["METRICS", "closes_trade", "day_metrics", "run_metrics", "sharpe_ratio"]

METRICS = ("pnl", "return_pct", "fees", "fills", "trades", "max_drawdown", "sharpe", "events", "seconds")
SHARPE_PERIOD = 60.0  # seconds between the equity readings the returns are taken from
YEAR_SECONDS = 365 * 86_400.0
DAY_SECONDS = 86_400.0


def sharpe_ratio(times: np.ndarray, values: np.ndarray, period: float = SHARPE_PERIOD) -> float:
    """Annualised Sharpe ratio of an equity curve read every ``period`` seconds (see above)."""
    if len(values) < 2:
        return 0.0
    marks = np.arange(times[0] + period, times[-1] + period, period)
    readings = values[np.searchsorted(times, marks, side="right") - 1]
    levels = np.concatenate(([values[0]], readings))
    returns = levels[1:] / levels[:-1] - 1.0
    if len(returns) < 2:
        return 0.0
    spread = float(np.std(returns, ddof=1))
    if spread == 0.0 or not math.isfinite(spread):
        return 0.0
    return float(np.mean(returns)) / spread * math.sqrt(YEAR_SECONDS / period)


def closes_trade(fills: Sequence) -> list[bool]:
    """Whether each fill closes a trade: its symbol's position, starting flat, returns to or
    crosses zero (as backtrader closes a trade)."""
    positions: dict[str, float] = {}
    closes = []
    for fill in fills:
        before = positions.get(fill.symbol, 0.0)
        after = round(before + fill.size, 12)
        positions[fill.symbol] = after
        closes.append(before != 0.0 and (after == 0.0 or (after > 0) != (before > 0)))
    return closes


def run_metrics(result: RunResult) -> dict[str, float]:
    """The row numbers of a whole run."""
    return {
        "pnl": result.pnl,
        "return_pct": result.return_pct,
        "fees": result.fees,
        "fills": len(result.fills),
        "trades": result.trades_closed,
        "max_drawdown": result.max_drawdown,
        "sharpe": sharpe_ratio(result.equity_times, result.equity_values),
        "events": result.events,
        "seconds": result.wall_seconds,
    }


def day_start(day: str) -> float:
    """UTC epoch seconds of a ``YYYY-MM-DD`` day's midnight."""
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()


def day_metrics(result: RunResult, days: Sequence[str], events: Sequence[int]) -> list[dict[str, float]]:
    """The row numbers of each UTC day of one continuous run (positions carried over).

    A day's PnL is the change of the equity value from the previous day's last reading (the
    start cash for the first day); its fills, fees and closed trades are those stamped that
    day; ``events`` are the day's rows of the input files; the run's seconds are shared out
    in proportion to events.
    """
    times, values = result.equity_times, result.equity_values
    total_events = sum(events) or 1
    closes = closes_trade(result.fills)
    rows = []
    before = result.start_cash
    for day, day_events in zip(days, events):
        start = day_start(day)
        inside = (times >= start) & (times < start + DAY_SECONDS)
        day_values = values[inside]
        after = float(day_values[-1]) if len(day_values) else before
        picked = [i for i, fill in enumerate(result.fills) if start <= fill.timestamp < start + DAY_SECONDS]
        fills = [result.fills[i] for i in picked]
        curve = np.concatenate(([before], day_values))
        rows.append({
            "pnl": after - before,
            "return_pct": 100.0 * (after - before) / before if before else 0.0,
            "fees": float(sum(fill.commission for fill in fills)),
            "fills": len(fills),
            "trades": sum(closes[i] for i in picked),
            "max_drawdown": max_drawdown(curve)[0],
            "sharpe": sharpe_ratio(np.concatenate(([start], times[inside])), curve),
            "events": day_events,
            "seconds": result.wall_seconds * day_events / total_events,
        })
        before = after
    return rows
