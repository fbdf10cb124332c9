"""The ``btchannels`` command: sample data, the demo, backtests of a strategy file, tools."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import backtrader as bt

from .channels import BookError, OrderBookChannel, TickChannel
from .result import RunResult
from .sources import SourceError

__all__ = ["main"]

DEFAULT_OUT = Path("btchannels-output")


def _run_backtest(strategy: type[bt.Strategy], ticks: Path, book: Path | None, symbol: str, cash: float,
                  commission: float, **strategy_kw: Any) -> RunResult:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    if book is not None:
        cerebro.add_channel(OrderBookChannel, symbol=symbol, dataname=book)
    cerebro.add_channel(TickChannel, symbol=symbol, dataname=ticks)
    cerebro.addstrategy(strategy, **strategy_kw)
    cerebro.run(mode=bt.RunMode.TICK)
    return cerebro.tick_result


def _report(result: RunResult, chart: Path | None) -> None:
    print(result.summary())
    if chart is not None:
        from .report import plot_run

        print(f"chart: {plot_run(result, chart)}")


def cmd_sample(args: argparse.Namespace) -> int:
    from .sample import generate_sample

    files = generate_sample(args.out, seed=args.seed)
    print(f"trades: {files.trades}\nbook:   {files.book}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import BookImbalanceStrategy
    from .sample import ensure_sample

    started = time.perf_counter()
    files = ensure_sample(args.out / "sample")
    result = _run_backtest(BookImbalanceStrategy, files.trades, files.book, "BTC/USDT", args.cash, args.commission)
    _report(result, None if args.no_chart else args.out / "demo.png")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def load_strategy(path: Path, name: str | None = None) -> type[bt.Strategy]:
    """The ``bt.Strategy`` subclass defined in a Python file (``name`` picks one of several)."""
    if not path.is_file():
        raise SystemExit(f"btchannels: strategy file not found: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = {
        value.__name__: value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, bt.Strategy) and value.__module__ == module.__name__
    }
    if name is not None:
        if name not in found:
            raise SystemExit(f"btchannels: no strategy class {name!r} in {path} (found: {', '.join(found) or 'none'})")
        return found[name]
    if len(found) != 1:
        raise SystemExit(f"btchannels: {path} defines {len(found)} strategy classes "
                         f"({', '.join(found) or 'none'}); choose one with --strategy")
    return next(iter(found.values()))


def cmd_backtest(args: argparse.Namespace) -> int:
    strategy = load_strategy(args.strategy_file, args.strategy)
    result = _run_backtest(strategy, args.ticks, args.book, args.symbol, args.cash, args.commission)
    _report(result, args.chart)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .sources import convert

    started = time.perf_counter()
    rows = convert(args.source, args.destination, format=args.format)
    elapsed = time.perf_counter() - started
    print(f"{rows:,} rows -> {args.destination} in {elapsed:.2f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s)")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .live.validator import LiveDataValidator
    from .replay import replay_events
    from .sources import open_book, open_trades

    is_book = args.kind == "book" or (args.kind is None and ".jsonl" in args.file.name)
    source = (open_book if is_book else open_trades)(args.file, format=args.format, on_error="skip")
    validator = LiveDataValidator()
    total = rejected = 0
    for event in replay_events(source, args.symbol):
        total += 1
        rejected += not validator.validate(event)
    print(f"{args.file}: {total:,} events, {rejected:,} rejected, {source.skipped_rows:,} unreadable rows skipped")
    for (channel_type, name), kinds in sorted(validator.get_anomaly_report().items()):
        for kind, count in sorted(kinds.items()):
            print(f"  {channel_type} {name}: {kind} {count:,}")
    return 1 if rejected or source.skipped_rows else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="btchannels", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write the synthetic BTC/USDT sample hour")
    sample.add_argument("--out", type=Path, default=DEFAULT_OUT / "sample")
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(run=cmd_sample)

    demo = commands.add_parser("demo", help="run the demo strategy on the sample: summary and chart")
    demo.add_argument("--out", type=Path, default=DEFAULT_OUT)
    demo.add_argument("--cash", type=float, default=10_000.0)
    demo.add_argument("--commission", type=float, default=0.0002, help="maker-level fee by default")
    demo.add_argument("--no-chart", action="store_true")
    demo.set_defaults(run=cmd_demo)

    backtest = commands.add_parser("backtest", help="tick backtest of a strategy file")
    backtest.add_argument("strategy_file", type=Path)
    backtest.add_argument("--ticks", type=Path, required=True, help="trades file (CSV, Parquet, Binance zip)")
    backtest.add_argument("--book", type=Path, help="order-book file (JSONL, Parquet)")
    backtest.add_argument("--symbol", default="BTC/USDT")
    backtest.add_argument("--strategy", help="class name, when the file defines several")
    backtest.add_argument("--cash", type=float, default=10_000.0)
    backtest.add_argument("--commission", type=float, default=0.001)
    backtest.add_argument("--chart", type=Path, help="write a PNG chart here")
    backtest.set_defaults(run=cmd_backtest)

    convert = commands.add_parser("convert", help="convert a trades or book file to Parquet (or CSV/JSONL)")
    convert.add_argument("source", type=Path)
    convert.add_argument("destination", type=Path)
    convert.add_argument("--format", help="source format, when detection cannot tell")
    convert.set_defaults(run=cmd_convert)

    validate = commands.add_parser("validate", help="run the live-data validator over a historical file")
    validate.add_argument("file", type=Path)
    validate.add_argument("--kind", choices=("trades", "book"))
    validate.add_argument("--format")
    validate.add_argument("--symbol", default="BTC/USDT")
    validate.set_defaults(run=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (SourceError, BookError, FileNotFoundError) as error:  # bad input, named in the message
        print(f"btchannels: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
