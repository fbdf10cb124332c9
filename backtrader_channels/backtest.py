"""``btchannels backtest``: a strategy file on trades (and a book), as backtrader's ``btrun``
and freqtrade's backtesting do it: parameters and analyzers by name, a date range, bars made
from the trades, and the report (terminal tables, JSON, trade export, HTML).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import backtrader as bt

from . import seam
from .channels import OrderBookChannel, TickChannel
from .cli_errors import output_file
from .result import RunResult
from .run_metrics import Metrics, compute_metrics

__all__ = ["BacktestRun", "analyzer_class", "bar_spec", "export_trades", "parse_params", "print_report",
           "run_backtest", "utc_date", "write_json", "export_file"]

_BAR_UNITS = {"s": (bt.TimeFrame.Seconds, 1), "m": (bt.TimeFrame.Minutes, 1), "h": (bt.TimeFrame.Minutes, 60),
              "d": (bt.TimeFrame.Days, 1)}


def _value(text: str) -> Any:
    """A parameter's value: int, float, bool (true/false, any case), else the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(strategy: type[bt.Strategy], pairs: list[str]) -> dict[str, Any]:
    """``['fast=5', 'stop=0.01']`` as the strategy's keyword arguments; a name the strategy
    does not declare in ``params`` is refused, naming the ones it does."""
    known = list(seam.param_values(strategy.params()))  # the defaults, by name
    params: dict[str, Any] = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ValueError(f"--param {pair!r}: give NAME=VALUE")
        if name not in known:
            raise ValueError(f"--param {name}: {strategy.__name__} has no such parameter; its parameters: "
                             f"{', '.join(known) or 'none'}")
        params[name] = _value(text)
    return params


def analyzer_class(name: str) -> type[bt.Analyzer]:
    """The backtrader analyzer called ``name`` (``SharpeRatio``, ``DrawDown``...; any case)."""
    analyzers = {key.lower(): value for key, value in vars(bt.analyzers).items()
                 if isinstance(value, type) and issubclass(value, bt.Analyzer) and value is not bt.Analyzer}
    found = analyzers.get(name.lower())
    if found is None:
        names = sorted(value.__name__ for value in set(analyzers.values()))
        raise ValueError(f"--analyzer {name}: not a backtrader analyzer; known: {', '.join(names)}")
    return found


def bar_spec(text: str) -> tuple[int, int]:
    """``'1m'`` -> ``(bt.TimeFrame.Minutes, 1)``; ``s``, ``m``, ``h`` (as minutes), ``d``."""
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _BAR_UNITS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"--bars {text!r}: give a count and a unit, e.g. 1s, 1m, 15m, 1h, 1d")
    timeframe, scale = _BAR_UNITS[unit]
    return timeframe, int(number) * scale


def utc_date(text: str) -> date | datetime:
    """``--from``/``--to``: a day ``YYYY-MM-DD`` (as a date: ``--to`` includes all of it) or
    an ISO 8601 time (an aware UTC datetime; naive means UTC)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a day YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SS") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def export_file(text: str) -> Path:
    """``--export``: a file to write whose name ends in .csv or .parquet."""
    path = output_file(text)
    if path.suffix not in (".csv", ".parquet"):
        raise argparse.ArgumentTypeError(f"{text}: name a .csv or .parquet file")
    return path


@dataclass
class BacktestRun:
    """What ``run_backtest`` returns: the run, its metrics, each analyzer's analysis."""

    result: RunResult
    metrics: Metrics
    analyzers: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def summary_dict(self) -> dict[str, Any]:
        """The ``--json`` summary: the run, the metrics, the analyzers, the parameters."""
        result = self.result
        return {"symbol": result.symbol, "params": self.params, "events": result.events,
                "fills": len(result.fills), **self.metrics.as_dict(), "analyzers": _plain(self.analyzers)}


def _plain(value: Any) -> Any:
    """An analysis (nested dicts with date keys, numpy and backtrader numbers) as JSON types."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    try:
        return _plain(float(value))
    except (TypeError, ValueError):
        return str(value)


def run_backtest(strategy: type[bt.Strategy], ticks: Any, *, book: Any = None, symbol: str = "BTC/USDT",
                 cash: float = 10_000.0, commission: float = 0.001, params: dict[str, Any] | None = None,
                 fromdate: date | datetime | None = None, todate: date | datetime | None = None,
                 analyzers: Sequence[str] = (), bars: str | None = None) -> BacktestRun:
    """One tick-mode backtest of ``strategy`` on the trades ``ticks`` (and order book ``book``)
    between ``fromdate`` and ``todate``; ``bars`` (``'1m'``) gives the strategy ``self.data``
    as bars made from the trades; ``analyzers`` are backtrader analyzers by name."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    window = {"fromdate": fromdate, "todate": todate}
    if book is not None:
        cerebro.add_channel(OrderBookChannel, symbol=symbol, dataname=book, **window)
    channel = cerebro.add_channel(TickChannel, symbol=symbol, dataname=ticks, **window)
    if bars is not None:
        timeframe, compression = bar_spec(bars)
        cerebro.resampledata(channel, timeframe=timeframe, compression=compression)
    classes = [analyzer_class(name) for name in analyzers]
    for cls in classes:
        cerebro.addanalyzer(cls, _name=cls.__name__)
    cerebro.addstrategy(strategy, **(params or {}))
    strategies = cerebro.run(mode=bt.RunMode.TICK)
    result: RunResult = cerebro.tick_result
    analyses = {cls.__name__: strategies[0].analyzers.getbyname(cls.__name__).get_analysis() for cls in classes}
    return BacktestRun(result, compute_metrics(result), analyses, dict(params or {}))


def export_trades(run: BacktestRun, path: Path) -> Path:
    """Every trade (closed ones, then the one still open, flagged) as CSV or Parquet, by
    ``path``'s extension: times, prices, size, PnL gross and net, fees, duration."""
    import pyarrow as pa

    rows = [trade.record() for trade in run.metrics.closed_trades + run.metrics.open_trades]
    columns = ["symbol", "side", "size", "entry_time", "entry_price", "exit_time", "exit_price", "pnl_gross",
               "fees", "pnl_net", "duration_s", "is_open"]
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        (name, pa.string() if name in ("symbol", "side", "entry_time", "exit_time")
         else pa.bool_() if name == "is_open" else pa.float64()) for name in columns]))
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif path.suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    else:
        raise ValueError(f"{path}: name a .csv or .parquet file")
    return path


def _tables(run: BacktestRun) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of each table of the terminal report."""
    result, metrics = run.result, run.metrics
    shown = result.rows()  # the run's own rows, then the metrics it does not have
    labels = {label for label, _ in shown}
    summary = [list(row) for row in shown + [row for row in metrics.rows() if row[0] not in labels]]
    tables = [("summary", ["", ""], summary),
              ("per-day returns (UTC)", ["day", "end equity", "return"],
               [[day, f"{equity:,.2f}", f"{100 * ret:+.3f}%"] for day, equity, ret in metrics.days])]
    for name, analysis in run.analyzers.items():
        tables.append((f"analyzer {name}", ["", ""], [[key, _cell(value)] for key, value in _flat(analysis)]))
    return tables


def _cell(value: Any) -> str:
    """An analysis value as a table cell: floats to 6 significant digits."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _flat(analysis: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(analysis, dict):
        return [row for key, value in analysis.items() for row in _flat(value, f"{prefix}{key}.")]
    return [(prefix.rstrip("."), analysis)]


def print_report(run: BacktestRun, stream: TextIO | None = None) -> None:
    """The report's tables on ``stream`` (standard output): ``rich`` tables on a terminal
    (when installed), else plain text (label and values, aligned)."""
    stream = stream or sys.stdout
    tables = _tables(run)
    if stream.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            console = Console(file=stream)
            for title, headers, rows in tables:
                table = Table(title=title, show_header=any(headers))
                for k, header in enumerate(headers):
                    table.add_column(header, justify="left" if k == 0 else "right")
                for row in rows:
                    table.add_row(*row)
                console.print(table)
            return
    for title, headers, rows in tables:
        if title != "summary":
            print(f"\n{title}", file=stream)
        shown = ([headers] if any(headers) else []) + rows
        widths = [max(len(row[k]) for row in shown) for k in range(len(headers))]
        for row in shown:
            print("  ".join(f"{cell:<{widths[k]}}" if k == 0 or not any(headers) else f"{cell:>{widths[k]}}"
                            for k, cell in enumerate(row)).rstrip(), file=stream)


def write_json(run: BacktestRun, path: Path) -> Path:
    """The ``--json`` summary of ``run`` at ``path``."""
    path.write_text(json.dumps(run.summary_dict(), indent=2) + "\n", encoding="utf-8")
    return path
