"""``btchannels sweep``: the command-line face of ``sweep(...)``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli_errors import (
    UserError,
    existing_file,
    non_negative_float,
    output_dir,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:  # the command's parser is built at every btchannels start: keep it light
    from .api import SweepResult

__all__ = ["add_arguments", "parse_param", "run_command"]

CANCELLED_EXIT = 130  # as a shell reports a Ctrl-C


def parse_value(text: str) -> Any:
    """A parameter value from the command line: int, float, True/False/None, else the text."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``'fast=10,20,50'`` -> ``('fast', [10, 20, 50])``."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"--param takes NAME=V1,V2,..., got {text!r}")
    return name.strip(), [parse_value(value.strip()) for value in values.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("strategy_file", type=existing_file, help="a Python file defining the bt.Strategy subclass")
    parser.add_argument("--ticks", action="append", required=True,
                        help="trade files of a symbol, one per day (a glob in quotes, a path or URL); "
                             "repeat with --symbol for several symbols")
    parser.add_argument("--symbol", action="append", help="the symbol of each --ticks, in order (default BTC/USDT)")
    parser.add_argument("--book", action="append", help="order-book files of each --ticks' symbol, one per day")
    parser.add_argument("--param", action="append", type=parse_param, default=[],
                        help="a parameter and its values: NAME=V1,V2,... (repeat per parameter)")
    parser.add_argument("--per-day", action="store_true", help="a job per day (default: a job per whole range)")
    parser.add_argument("--carry", action="store_true",
                        help="with --per-day: carry positions and cash from day to day (one continuous "
                             "run per range, a row per day) instead of starting each day flat")
    parser.add_argument("--scheduler", help="a Dask scheduler address (tcp://HOST:8786), or 'serial' for "
                                            "this process; default: a local cluster, one worker per core")
    parser.add_argument("--workers", type=positive_int, help="workers of the local cluster (default: one per core)")
    parser.add_argument("--strategy", help="class name, when the file defines several")
    parser.add_argument("--cash", type=positive_float, default=10_000.0, help="starting cash of each job, in the quote currency")
    parser.add_argument("--commission", type=non_negative_float, default=0.001,
                        help="fee per fill as a fraction of its value, 0.001 = 0.1%%")
    parser.add_argument("--format", help="trade file format, when detection cannot tell")
    parser.add_argument("--out", type=output_dir, default=Path("btchannels-output") / "sweep",
                        help="where sweep.parquet, sweep.csv and heatmap.png go")
    parser.add_argument("--heatmap", help="the two parameters of the heatmap, X,Y (default: the first two)")
    parser.add_argument("--top", type=positive_int, default=5, help="how many of the best parameter sets to print")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _by_symbol(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str] | None]:
    symbols = args.symbol or ["BTC/USDT"]
    if len(symbols) != len(args.ticks):
        raise UserError("--symbol", f"{len(args.ticks)} --ticks need as many --symbol (got {len(symbols)})")
    if args.book and len(args.book) != len(args.ticks):
        raise UserError("--book", "give one --book per --ticks, or none")
    return dict(zip(symbols, args.ticks)), dict(zip(symbols, args.book)) if args.book else None


def report(result: SweepResult, top: int) -> None:
    """Print where the files went, the failed jobs and the best parameter sets."""
    import pandas as pd

    for kind, path in result.files.items():
        print(f"{kind}: {path}")
    done = result.table["job"].nunique()
    print(f"{done} of {result.jobs} jobs finished, {result.failures['job'].nunique()} failed"
          + (" (cancelled: the table holds the finished jobs)" if result.cancelled else ""))
    for _, row in result.failures.drop_duplicates("job").iterrows():
        params = ", ".join(f"{name}={row[name]!r}" for name in result.param_names)
        print(f"\nFAILED job {row['job']} ({params}; {row['symbol']} {row['day']}):\n{row['error'].rstrip()}")
    best = result.best(top)
    if not best.empty:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            table = best.to_string(index=False, float_format=lambda value: f"{value:,.4f}")
            print(f"\nbest parameter sets (total over days and symbols):\n{table}")


def run_command(args: argparse.Namespace) -> int:
    from ..strategy_file import load_strategy
    from .api import sweep

    ticks, books = _by_symbol(args)
    heatmap = tuple(args.heatmap.split(",")) if args.heatmap else None
    if heatmap is not None and len(heatmap) != 2:
        raise UserError("--heatmap", f"takes two parameter names X,Y, got {args.heatmap!r}")
    load_strategy(args.strategy_file, args.strategy)  # a file without its strategy: one error, not a failed row per job
    result = sweep(
        args.strategy_file if args.strategy is None else f"{args.strategy_file}:{args.strategy}",
        dict(args.param), ticks, books=books, per_day=args.per_day, carry=args.carry, cash=args.cash,
        commission=args.commission, tick_format=args.format, scheduler=args.scheduler,
        workers=args.workers, out=args.out, heatmap=heatmap, progress=not args.no_progress,
    )
    report(result, args.top)
    if result.cancelled:
        return CANCELLED_EXIT
    return 0 if result.failures.empty else 1
