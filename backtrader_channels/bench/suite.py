"""The ``btchannels bench`` table: targets, jobs in fresh interpreters, printing."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .costs import COSTS, bench_cost, bench_costs
from .inputs import Inputs
from .live_latency import scenario_latency
from .measure import (
    DAY_TRADES,
    SIZES,
    Measured,
    Row,
    Sizes,
    machine,
    median_rate,
    peak_rss_mb,
    rate_row,
    repeat,
)
from .peers import print_peers, run_peers
from .scenarios import (
    backtrader_frame,
    queue_events,
    scenario_backtrader,
    scenario_books,
    scenario_bridge,
    scenario_convert,
    scenario_fresh,
    scenario_limits,
    scenario_load_zip,
    scenario_memory,
    scenario_order_flow,
    scenario_orders,
    scenario_queue_one_thread,
    scenario_queue_threads,
    scenario_ticks,
)
from .strategies import BarQuoter, FarLimits, FlipEvery, Quoter, TickArithmetic

# --- the table ------------------------------------------------------------------------------



def bench_target1(inputs: Inputs, sizes: Sizes) -> list[Row]:
    trades = inputs.trades(sizes.ticks)
    ours = repeat(lambda: scenario_ticks(trades), sizes.rounds)
    frame = backtrader_frame(trades, sizes.backtrader_ticks)
    theirs = repeat(lambda: scenario_backtrader(frame), sizes.rounds)
    ratio = median_rate(ours) / median_rate(theirs)
    return [
        rate_row("1", f"notify_tick, {sizes.ticks:,} trades from Parquet", ours, 1e6, unit="events/s"),
        rate_row("1", f"backtrader itself, {sizes.backtrader_ticks:,} ticks as bars (PandasData)",
                  theirs, None, unit="events/s"),
        Row("1", "ratio ours / backtrader", ratio, "x", 100.0),
    ]


def bench_orders(inputs: Inputs, sizes: Sizes) -> list[Row]:
    """Order-heavy: a market order about every 15 trades; peak RSS of this job's process."""
    trades = inputs.trades(sizes.ticks)
    runs = repeat(lambda: scenario_orders(trades), sizes.rounds)
    fills = runs[-1].checks["fills"]
    return [
        rate_row("orders", f"EmaFlip in notify_tick, {sizes.ticks:,} trades ({fills:,} market fills)", runs,
                  5e5, unit="events/s"),
        Row("orders", "peak RSS of that job", peak_rss_mb(), "MB", None, higher_is_better=False),
    ]


def bench_quoting(inputs: Inputs, sizes: Sizes) -> list[Row]:
    """Orders as cheap as trades: quoting (cancel/replace a bid and an ask every 20 trades) against
    backtrader on bars, a market order every 20 trades and on every trade, and what 1,000 limits
    resting far from the price add to a trades-only run."""
    trades = inputs.trades(sizes.ticks)
    quoting = repeat(lambda: scenario_order_flow(trades, Quoter), sizes.rounds)
    frame = backtrader_frame(trades, sizes.backtrader_ticks)
    theirs = repeat(lambda: scenario_backtrader(frame, BarQuoter), sizes.rounds)
    flip = repeat(lambda: scenario_order_flow(trades, FlipEvery, every=20), sizes.rounds)
    every = inputs.trades(sizes.backtrader_ticks)
    market = repeat(lambda: scenario_order_flow(every, FlipEvery, every=1), sizes.rounds)
    plain = repeat(lambda: scenario_order_flow(trades, TickArithmetic), sizes.rounds)
    far = repeat(lambda: scenario_order_flow(trades, FarLimits, orders=1_000), sizes.rounds)

    def orders(runs: list[Measured]) -> float:
        return statistics.median(run.checks["orders"] / run.seconds for run in runs)

    extra = 100.0 * (statistics.median(run.seconds for run in far) / statistics.median(run.seconds for run in plain) - 1)
    what = f"{sizes.ticks:,} trades"
    return [
        rate_row("quoting", f"cancel/replace 2 quotes every 20 trades, {what}", quoting, 5e5, unit="events/s"),
        Row("quoting", "  the same: orders placed and cancelled", orders(quoting), "orders/s", 5e4),
        rate_row("quoting", f"backtrader itself quoting, {sizes.backtrader_ticks:,} ticks as bars", theirs, None,
                 unit="events/s"),
        Row("quoting", "ratio ours / backtrader", median_rate(quoting) / median_rate(theirs), "x", 100.0),
        rate_row("quoting", f"market order every 20 trades (flip long/flat), {what}", flip, 5e5, unit="events/s"),
        Row("quoting", f"market order every trade, {sizes.backtrader_ticks:,} trades", orders(market), "orders/s", 1e5),
        Row("quoting", f"1,000 far limits resting: time added to a trades-only run, {what}", extra, "%", 10.0,
            higher_is_better=False),
    ]


def bench_target2(inputs: Inputs, sizes: Sizes) -> list[Row]:
    n = sizes.limit_trades
    trades, bars = inputs.trades(n), inputs.bars(n)
    runs = repeat(lambda: scenario_limits(trades, bars), sizes.rounds)
    fills = runs[-1].checks["fills"]
    return [rate_row("2", f"bars + 2 resting limits, {n:,} trades ({fills:,} fills)", runs, 3e6,
                      unit="trades/s")]


def bench_target3(inputs: Inputs, sizes: Sizes) -> list[Row]:
    books = repeat(lambda: scenario_books(inputs, sizes, trades=False), sizes.rounds)
    merged = repeat(lambda: scenario_books(inputs, sizes), sizes.rounds)
    levels = statistics.median(run.checks["levels_per_second"] for run in books)
    per_symbol = f"{sizes.book_updates:,} updates x 10 levels"
    return [
        Row("3", f"book level updates, 2 books merged ({per_symbol} each)", levels, "levels/s", 5e5),
        rate_row("3", f"merged events, 2 symbols (+{sizes.book_trades:,} trades each)", merged, 5e5,
                  unit="events/s"),
    ]


def bench_target4(inputs: Inputs, sizes: Sizes) -> list[Row]:
    trades = inputs.trades(sizes.bridge_ticks)
    runs = repeat(lambda: scenario_bridge(trades), sizes.rounds)
    return [rate_row("4", f"ChannelBridge + SMA(20), {sizes.bridge_ticks:,} ticks", runs, 2e5,
                      unit="ticks/s")]


def bench_target5(sizes: Sizes) -> list[Row]:
    events = queue_events(sizes.queue_events)
    one = repeat(lambda: scenario_queue_one_thread(events), sizes.rounds)
    batched = repeat(lambda: scenario_queue_one_thread(events, batch=True), sizes.rounds)
    two = repeat(lambda: scenario_queue_threads(events), sizes.rounds)
    return [
        rate_row("5", "LiveEventQueue push + pop(), one thread", one, 1e6, unit="pairs/s"),
        rate_row("5", "LiveEventQueue push + pop_batch(1000), one thread", batched, 1e6, unit="pairs/s"),
        rate_row("5", "LiveEventQueue producer -> consumer thread (pop_batch)", two, 3e5, unit="events/s"),
    ]


def bench_target6(inputs: Inputs, sizes: Sizes) -> list[Row]:
    n = sizes.zip_rows
    archive = inputs.binance_zip(n)
    load = repeat(lambda: scenario_load_zip(archive), sizes.rounds)
    from_zip = scenario_convert(archive, inputs.root / "converted-zip.parquet")
    from_csv = scenario_convert(inputs.trades_csv(n), inputs.root / "converted-csv.parquet")
    return [
        rate_row("6", f"Binance zip -> TradeChunks, {n:,} rows", load, 5e6, unit="rows/s"),
        rate_row("6", "convert Binance zip -> Parquet", [from_zip], None, unit="rows/s"),
        rate_row("6", "convert project CSV -> Parquet", [from_csv], None, unit="rows/s"),
    ]


def bench_target7(inputs: Inputs, sizes: Sizes) -> list[Row]:
    rows = []
    for n in sizes.memory_rows:
        run = scenario_memory(inputs.trades(n), inputs.bars(n))
        note = f"{run.seconds:.1f} s, {run.rate:,.0f} trades/s, imports {run.checks['baseline_rss_mb']:.0f} MB"
        rows.append(Row("7", f"peak RSS, target 2's run on {n:,} trades", run.checks["peak_rss_mb"], "MB",
                        200.0, higher_is_better=False, note=note))
    return rows


SCALED = {"ticks": "target 1 (notify_tick per trade)", "limits": "target 2 (bars + 2 resting limits)"}


def bench_scaling(inputs: Inputs, sizes: Sizes) -> list[Row]:
    """Wall time and peak RSS of targets 1 and 2 as the day grows: linear time, flat memory?"""
    rows = []
    for which, what in SCALED.items():
        for n in sizes.scaling_trades:
            run = scenario_fresh(which, inputs.trades(n), inputs.bars(n))
            rss, imports = run.checks["peak_rss_mb"], run.checks["baseline_rss_mb"]
            rows += [
                Row("scale", f"{what}, {n:,} trades: wall time", run.seconds, "s",
                    10.0 if n >= DAY_TRADES else None, higher_is_better=False,
                    note=f"{run.rate:,.0f} trades/s, {run.seconds / n * 1e9:,.0f} ns a trade"),
                Row("scale", f"{what}, {n:,} trades: peak RSS", rss, "MB", 200.0, higher_is_better=False,
                    note=f"imports {imports:.0f} MB, run {rss - imports:.0f} MB"),
            ]
    return rows


def bench_latency(sizes: Sizes) -> list[Row]:
    rows = []
    for server_process in (False, True):
        where = "server in its own process" if server_process else "server in-process"
        for rate in (1_000, 5_000):
            checks = scenario_latency(rate, sizes.latency_seconds, server_process).checks
            note = (f"{checks['received']:,}/{checks['sent']:,} trades, p50 {checks['p50_ms']:.1f} ms, "
                    f"max {checks['max_ms']:.1f} ms")
            goal = 20.0 if rate == 5_000 else None
            rows.append(Row("live", f"p99 send -> notify_tick, {rate:,} trades/s, {where}", checks["p99_ms"],
                            "ms", goal, higher_is_better=False, note=note))
    return rows


TARGETS: dict[str, Callable[[Inputs, Sizes], list[Row]]] = {
    "1": bench_target1,
    "2": bench_target2,
    "orders": bench_orders,
    "quoting": bench_quoting,
    "3": bench_target3,
    "4": bench_target4,
    "5": lambda inputs, sizes: bench_target5(sizes),
    "6": bench_target6,
    "7": bench_target7,
    "scale": bench_scaling,
    "live": lambda inputs, sizes: bench_latency(sizes),
    "costs": bench_costs,
}


COST_JOB = "cost:"


def job_names(only: list[str] | None = None) -> list[str]:
    """The jobs of the chosen targets: one per target, and one per row of the cost table."""
    names: list[str] = []
    for name in TARGETS:
        if only and name not in only:
            continue
        names += [COST_JOB + cost for cost in COSTS] if name == "costs" else [name]
    return names


def job_rows(job: str, inputs: Inputs, sizes: Sizes) -> list[Row]:
    """Run one job in this process."""
    if job.startswith(COST_JOB):
        return bench_cost(job[len(COST_JOB):], inputs, sizes)
    return TARGETS[job](inputs, sizes)


JOB_CHILD = """
import dataclasses, json, sys
from backtrader_channels import bench
job, size, root = sys.argv[1:4]
rows = bench.job_rows(job, bench.Inputs(root), bench.SIZES[size])
print(json.dumps([dataclasses.asdict(row) for row in rows]))
"""


def isolated_job_rows(job: str, size: str, root: str | os.PathLike) -> list[Row]:
    """Run one job in a fresh interpreter, as a user's script would run (own heap, own GC)."""
    done = subprocess.run([sys.executable, "-c", JOB_CHILD, job, size, str(root)],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"benchmark job {job!r} failed:\n{done.stderr[-4000:]}")
    return [Row(**row) for row in json.loads(done.stdout.strip().splitlines()[-1])]


def run_bench(size: str = "quick", only: list[str] | None = None, root: str | os.PathLike | None = None,
              progress: Callable[[str], None] | None = None, isolate: bool = True) -> list[Row]:
    """Run the benchmarks of ``size`` ('quick' or 'full'), every target or ``only`` some.

    Each job runs in a fresh interpreter unless ``isolate`` is False (then all in this
    process, whose heap grows from job to job). Inputs are written under ``root`` (reused
    across runs) or a temporary directory.
    """
    sizes = SIZES[size]
    with contextlib.ExitStack() as stack:
        if root is None:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix="btchannels-bench-"))
        rows: list[Row] = []
        for job in job_names(only):
            if progress is not None:
                progress(f"{job} ...")
            rows += isolated_job_rows(job, size, root) if isolate else job_rows(job, Inputs(root), sizes)
        return rows


def _figure(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def format_rows(rows: list[Row]) -> str:
    """The rows as a Markdown table; ``#`` numbers the workload as docs/performance.md does."""
    lines = ["| # | what | measured | target | met | note |", "|---|---|---:|---:|:---:|---|"]
    for row in rows:
        sign = ">=" if row.higher_is_better else "<="
        target = "" if row.goal is None else f"{sign} {_figure(row.goal)}"
        met = {True: "yes", False: "**missed**", None: ""}[row.met]
        lines.append(f"| {row.target} | {row.what} | {_figure(row.figure)} {row.unit} | {target} | {met} | {row.note} |")
    return "\n".join(lines)


def print_rows(rows: list[Row], size: str, file: Any = None) -> None:
    print(f"btchannels bench ({size}) on {machine()}\n", file=file or sys.stdout)
    print(format_rows(rows), file=file or sys.stdout)


def bench_parser() -> argparse.ArgumentParser:
    """The options of ``btchannels bench``."""
    parser = argparse.ArgumentParser(
        prog="btchannels bench",
        description="Measure speed and memory on generated data and print them, as a Markdown table, "
                    "next to the targets of docs/performance.md.")
    parser.add_argument("--full", action="store_true",
                        help="full-size inputs (up to a 17-million-trade day; takes many minutes) "
                             "instead of quick ones (about a minute)")
    parser.add_argument("--only", help="comma-separated workloads to run, numbered as in docs/performance.md: "
                                       + ",".join(TARGETS) + f" (default: all); or {SOAK} alone, the soak test "
                                       f"(btchannels bench --only {SOAK} --help)")
    parser.add_argument("--dir", type=Path,
                        help="keep the generated inputs here and reuse them (default: a temporary directory)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every job in this process (default: each in a fresh interpreter)")
    peers = parser.add_argument_group("peers", "the same workloads in backtrader, nautilus_trader and "
                                               "hftbacktest (see docs/performance.md#peers)")
    peers.add_argument("--peers", action="store_true",
                       help="run the peers comparison instead of the targets")
    peers.add_argument("--trades", type=positive, default=1_000_000,
                       help="trades per workload (default: %(default)s)")
    peers.add_argument("--rounds", type=positive, default=3,
                       help="rounds, every engine once per round, in turn (default: %(default)s)")
    peers.add_argument("--ema", type=ema_weights, default="0.01,0.001", metavar="FAST,SLOW",
                       help="weights of the newest price in the strategy's fast and slow EMA, "
                            "a few hundred orders per million trades by default (default: %(default)s)")
    return parser


SOAK = "soak"  # not a table row: a long live run with its own options (soak.py)


def _only_parser() -> argparse.ArgumentParser:
    """Just ``--only``, to see whether the soak is asked for before its options are parsed."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--only")
    return parser


def positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def ema_weights(text: str) -> tuple[float, float]:
    try:
        fast, slow = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FAST,SLOW (two numbers), got {text!r}") from None
    if not 0 < slow < fast <= 1:
        raise argparse.ArgumentTypeError(f"expected 0 < SLOW < FAST <= 1, got {text!r}")
    return fast, slow


def main_bench(argv: list[str] | None = None) -> int:
    """``btchannels bench [--full] [--only 1,2] [--dir DIR] [--in-process]``: run, print the table;
    ``btchannels bench --peers [--trades N] [--rounds R] [--ema FAST,SLOW] [--dir DIR]``: the peers';
    ``btchannels bench --only soak [--minutes M | --hours H] ...``: the soak test (soak.py)."""
    parser = bench_parser()
    argv = sys.argv[1:] if argv is None else argv
    chosen, rest = _only_parser().parse_known_args(argv)
    if chosen.only is not None and SOAK in chosen.only.split(","):
        if chosen.only != SOAK:
            parser.error(f"{SOAK} runs alone (it lasts minutes to hours): --only {SOAK}")
        from .soak import main_soak

        return main_soak(rest)
    args = parser.parse_args(argv)
    progress = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if args.peers:
        fast, slow = args.ema
        results = run_peers(args.trades, args.rounds, args.dir, fast, slow, progress=progress)
        print_peers(results, args.trades)
        return 0
    size = "full" if args.full else "quick"
    only = args.only.split(",") if args.only else None
    unknown = sorted(set(only or ()) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    rows = run_bench(size, only, args.dir, progress=progress, isolate=not args.in_process)
    print_rows(rows, size)
    return 0
