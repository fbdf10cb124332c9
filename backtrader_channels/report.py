"""Reporting a tick-mode run: a PNG chart of price with entries and exits, position, equity."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .extras import missing_extra

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .result import RunResult

__all__ = ["draw_run", "fill_roles", "plot_run", "split_symbol"]

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")
BUY_COLOR, SELL_COLOR = "#1a9850", "#d73027"


def split_symbol(symbol: str) -> tuple[str, str]:
    """``('BTC', 'USDT')`` for ``'BTC/USDT'`` (or ``'BTCUSDT'``); ``('', '')`` when it cannot tell."""
    if "/" in symbol:
        base, quote = symbol.split("/", 1)
        return base, quote.split(":", 1)[0]  # 'BTC/USDT:USDT' (ccxt futures) quotes in USDT
    quote = next((q for q in _QUOTES if symbol.upper().endswith(q) and len(symbol) > len(q)), "")
    return (symbol[: -len(quote)], quote) if quote else ("", "")


def fill_roles(sizes: list[float]) -> list[str]:
    """Each fill's role for one symbol, from zero: ``'entry'`` if it opens or adds to the
    position, ``'exit'`` if it reduces or closes it (or closes it and reverses)."""
    roles, position = [], 0.0
    for size in sizes:
        opens = position == 0 or (position > 0) == (size > 0)
        roles.append("entry" if opens else "exit")
        position += size
    return roles


def _with_unit(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def draw_run(result: RunResult, title: str | None = None) -> Figure:
    """The chart of a run as a matplotlib Figure (no pyplot state): three panels over time.

    Top, the first symbol's price with each fill at its time and price: entries as filled
    triangles (▲ buy, ▼ sell), exits as hollow circles (green: bought back, red: sold), so
    an entry and an exit close together both stay visible. Middle, the position in the base
    currency as a step line. Bottom, the equity in the quote currency, with the start cash.
    """
    try:
        import matplotlib.dates as mdates
        from matplotlib.figure import Figure
    except ImportError as error:
        raise missing_extra("plot", "the chart", error) from error

    base, quote = split_symbol(result.symbol)
    times = (np.asarray(result.equity_times) * 1e3).astype("datetime64[ms]")
    figure = Figure(figsize=(12, 8))
    price_axis, position_axis, equity_axis = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1, 2]})
    price_axis.plot(times, result.prices, color="#4a5a6a", linewidth=0.8, label=f"{result.symbol} price")
    fills = [f for f in result.fills if f.symbol == result.symbol]
    roles = fill_roles([f.size for f in fills])
    styles = (  # role, side is buy, label, marker, filled, size
        ("entry", True, "long entries (buy)", "^", True, 60),
        ("entry", False, "short entries (sell)", "v", True, 60),
        ("exit", False, "exits: sell", "o", False, 110),
        ("exit", True, "exits: buy back", "o", False, 110),
    )
    for role, is_buy, label, marker, filled, size in styles:
        chosen = [f for f, r in zip(fills, roles) if r == role and (f.size > 0) == is_buy]
        if not chosen:
            continue
        color = BUY_COLOR if is_buy else SELL_COLOR
        stamps = (np.array([f.timestamp for f in chosen]) * 1e3).astype("datetime64[ms]")
        price_axis.scatter(stamps, [f.price for f in chosen], marker=marker, s=size, zorder=3,
                           facecolors=color if filled else "none", edgecolors=color, linewidths=1.2,
                           label=f"{label} ({len(chosen)})", gid=f"{role}-{'buy' if is_buy else 'sell'}")
    price_axis.set_ylabel(_with_unit("price", quote))
    price_axis.legend(loc="upper left", fontsize="small")
    price_axis.grid(alpha=0.3)

    position = np.cumsum([0.0] + [f.size for f in fills])
    steps = [float(result.equity_times[0])] if len(result.equity_times) else []
    steps += [f.timestamp for f in fills]
    if len(result.equity_times):
        steps.append(float(result.equity_times[-1]))
        position = np.append(position, position[-1])
    else:
        position = position[1:]
    position_axis.step((np.array(steps) * 1e3).astype("datetime64[ms]"), position, where="post",
                       color="#7b3294", linewidth=1.0, gid="position")
    position_axis.axhline(0.0, color="#999999", linewidth=0.8)
    position_axis.set_ylabel(_with_unit("position", base))
    position_axis.grid(alpha=0.3)

    equity_axis.plot(times, result.equity_values, color="#2c7bb6", linewidth=1.0)
    equity_axis.axhline(result.start_cash, color="#999999", linewidth=0.8, linestyle="--")
    equity_axis.set_ylabel(_with_unit("equity", quote))
    equity_axis.grid(alpha=0.3)
    # labels to the span's precision (seconds for a minute of live run, days for a month):
    # a fixed "%H:%M" labels every tick of a short run with the same minute
    locator = mdates.AutoDateLocator()
    equity_axis.xaxis.set_major_locator(locator)
    equity_axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for axis in (price_axis, position_axis, equity_axis):  # prices as they are, not "+9.405e4" offsets
        axis.ticklabel_format(axis="y", useOffset=False, style="plain")
    equity_axis.set_xlabel("time (UTC)")
    money = f" {quote}" if quote else ""
    figure.suptitle(title or f"{result.symbol}: PnL {result.pnl:+,.2f}{money}, "
                             f"max drawdown {100 * result.max_drawdown:.2f}%")
    figure.tight_layout()
    return figure


def plot_run(result: RunResult, path: str | Path, title: str | None = None) -> Path:
    """Write the chart of :func:`draw_run` to ``path`` (PNG); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_run(result, title).savefig(path, dpi=110)
    return path
