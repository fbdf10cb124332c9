"""The HTML report of a backtest: one self-contained file a person opens in a browser.

Plotly draws the charts (zoomable, hover values) with its JavaScript inlined in the page
(``include_plotlyjs=True``, about 4.8 MB: no CDN, so it opens offline and keeps working
when archived); bokeh's inline resources would do too, but plotly's single figure with
shared time axes and its built-in range zoom need no server and no custom JavaScript.
The tables (metrics, per-day returns, trades) are plain HTML around the figure.

A day of one-second equity samples is 86,400 points a series: each series is decimated to
at most ``MAX_POINTS`` by keeping, in each of ``MAX_POINTS / 2`` equal runs of samples,
the lowest and the highest (in time order), so spikes and drawdowns stay visible at every
zoom level of the overview. Fills are drawn exactly, one marker each.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .extras import missing_extra
from .report import BUY_COLOR, SELL_COLOR, fill_roles
from .run_metrics import Metrics, Trade, compute_metrics

if TYPE_CHECKING:
    from .result import RunResult

__all__ = ["MAX_POINTS", "decimate", "render_report", "write_report"]

MAX_POINTS = 4000  # per plotted series


def decimate(values: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` samples of ``values`` keeping each run's extremes
    (all of them when there are few enough), in increasing order."""
    count = len(values)
    if count <= max_points:
        return np.arange(count)
    buckets = max_points // 2
    edges = np.linspace(0, count, buckets + 1).astype(np.int64)
    starts = edges[:-1]
    low = np.minimum.reduceat(values, starts)
    high = np.maximum.reduceat(values, starts)
    chosen = []
    for start, stop, lo, hi in zip(starts, edges[1:], low, high):
        run = values[start:stop]
        chosen += [start + int(np.argmax(run == lo)), start + int(np.argmax(run == hi))]
    return np.unique(np.array(chosen, dtype=np.int64))


def _times(seconds: Any) -> np.ndarray:
    return (np.asarray(seconds, dtype=float) * 1e3).astype("datetime64[ms]")


def _figure(result: RunResult) -> Any:
    try:
        from plotly.subplots import make_subplots
    except ImportError as error:
        raise missing_extra("report", "the HTML report", error) from error
    import plotly.graph_objects as go

    times, values = np.asarray(result.equity_times, float), np.asarray(result.equity_values, float)
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.5, 0.3, 0.2],
                           subplot_titles=(f"{result.symbol} price, entries and exits", "equity", "drawdown"))
    if len(result.prices):
        keep = decimate(np.asarray(result.prices, float))
        figure.add_trace(go.Scatter(x=_times(times[keep]), y=np.asarray(result.prices)[keep], mode="lines",
                                      name="price", line={"color": "#4a5a6a", "width": 1}), row=1, col=1)
    fills = [fill for fill in result.fills if fill.symbol == result.symbol]
    roles = fill_roles([fill.size for fill in fills])
    for role, is_buy, symbol in (("entry", True, "triangle-up"), ("entry", False, "triangle-down"),
                                 ("exit", False, "circle-open"), ("exit", True, "circle-open")):
        chosen = [fill for fill, r in zip(fills, roles) if r == role and (fill.size > 0) == is_buy]
        if chosen:
            figure.add_trace(go.Scatter(
                x=_times([fill.timestamp for fill in chosen]), y=[fill.price for fill in chosen], mode="markers",
                name=f"{role} {'buy' if is_buy else 'sell'} ({len(chosen)})",
                marker={"symbol": symbol, "size": 10, "color": BUY_COLOR if is_buy else SELL_COLOR},
                text=[f"{fill.size:+g} @ {fill.price:,.2f}" for fill in chosen]), row=1, col=1)
    keep = decimate(values)
    figure.add_trace(go.Scatter(x=_times(times[keep]), y=values[keep], mode="lines", name="equity",
                                  line={"color": "#2c7bb6", "width": 1}), row=2, col=1)
    peaks = np.maximum.accumulate(values) if len(values) else values
    drawdown = np.where(peaks > 0, 100.0 * (values - peaks) / np.where(peaks > 0, peaks, 1.0), 0.0)
    keep = decimate(drawdown)
    figure.add_trace(go.Scatter(x=_times(times[keep]), y=drawdown[keep], mode="lines", name="drawdown %",
                                  fill="tozeroy", line={"color": "#d73027", "width": 1}), row=3, col=1)
    figure.update_yaxes(tickformat=",.2f", exponentformat="none")
    figure.update_yaxes(ticksuffix="%", row=3, col=1)
    figure.update_xaxes(rangeslider={"visible": False})
    figure.update_layout(height=800, margin={"l": 60, "r": 20, "t": 40, "b": 30}, hovermode="x unified",
                         template="plotly_white", legend={"orientation": "h", "y": -0.05})
    return figure


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _trade_row(number: int, trade: Trade) -> list[str]:
    return [str(number), trade.symbol, trade.side + (" (open)" if trade.is_open else ""), f"{trade.size:g}",
            _when(trade.entry_time), f"{trade.entry_price:,.2f}", _when(trade.exit_time), f"{trade.exit_price:,.2f}",
            f"{trade.pnl_gross:+,.2f}", f"{trade.fees:,.2f}", f"{trade.pnl_net:+,.2f}", f"{trade.duration:,.0f}"]


STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{padding:2px 10px;border-bottom:1px solid #ddd;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.cols{display:flex;gap:3em;flex-wrap:wrap}"""


def render_report(result: RunResult, metrics: Metrics | None = None, title: str | None = None) -> str:
    """The report of ``result`` as one HTML page (plotly's JavaScript inlined)."""
    metrics = metrics or compute_metrics(result)
    figure = _figure(result)
    title = title or f"{result.symbol} backtest: PnL {result.pnl:+,.2f} ({result.return_pct:+.2f}%)"
    summary = [("start cash", f"{result.start_cash:,.2f}"), ("end value", f"{result.end_value:,.2f}"),
               ("PnL", f"{result.pnl:+,.2f} ({result.return_pct:+.2f}%)"), *metrics.rows()]
    days = [[day, f"{equity:,.2f}", f"{100 * ret:+.3f}%"] for day, equity, ret in metrics.days]
    trades = [_trade_row(k, trade) for k, trade in enumerate(metrics.closed_trades + metrics.open_trades, 1)]
    plot = figure.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{plot}
<div class="cols"><div><h2>Metrics</h2>
{_table(["metric", "value"], [list(row) for row in summary], "metrics")}</div>
<div><h2>Per-day returns (UTC)</h2>
{_table(["day", "end equity", "return"], days, "days")}</div></div>
<h2>Trades</h2>
{_table(["#", "symbol", "side", "size", "entry time", "entry price", "exit time", "exit price", "PnL gross",
         "fees", "PnL net", "duration s"], trades, "trades")}
</body></html>
"""


def write_report(result: RunResult, path: str | Path, metrics: Metrics | None = None,
                 title: str | None = None) -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, metrics, title), encoding="utf-8")
    return path
