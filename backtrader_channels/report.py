"""Reporting a tick-mode run: the summary table and a PNG chart (price with fills, equity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .result import RunResult

__all__ = ["plot_run"]


def plot_run(result: RunResult, path: str | Path, title: str | None = None) -> Path:
    """Write a chart: the first symbol's price with buy/sell fills above, equity below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = (np.asarray(result.equity_times) * 1e3).astype("datetime64[ms]")
    figure, (price_axis, equity_axis) = plt.subplots(
        2, 1, figsize=(12, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    price_axis.plot(times, result.prices, color="#4a5a6a", linewidth=0.8, label=f"{result.symbol} price")
    fills = [f for f in result.fills if f.symbol == result.symbol]
    for side, color, marker, keep in (("buy", "#1a9850", "^", True), ("sell", "#d73027", "v", False)):
        chosen = [f for f in fills if (f.size > 0) == keep]
        if chosen:
            stamps = (np.array([f.timestamp for f in chosen]) * 1e3).astype("datetime64[ms]")
            price_axis.scatter(stamps, [f.price for f in chosen], color=color, marker=marker, s=36,
                               zorder=3, label=f"{side} fills ({len(chosen)})")
    price_axis.set_ylabel("price")
    price_axis.legend(loc="upper left")
    price_axis.grid(alpha=0.3)
    equity_axis.plot(times, result.equity_values, color="#2c7bb6", linewidth=1.0)
    equity_axis.axhline(result.start_cash, color="#999999", linewidth=0.8, linestyle="--")
    equity_axis.set_ylabel("equity")
    equity_axis.grid(alpha=0.3)
    equity_axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    equity_axis.set_xlabel("time (UTC)")
    figure.suptitle(title or f"{result.symbol}: PnL {result.pnl:+,.2f}, max drawdown {100 * result.max_drawdown:.2f}%")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
