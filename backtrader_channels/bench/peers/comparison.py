"""``btchannels bench --peers``: every engine on the same workloads, rounds alternating, one table."""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..measure import machine
from .engines import ENGINES, INSTALL_HINT, Engine, Run, run_isolated
from .workload import WORKLOADS, Workload

OURS = ENGINES[0]


@dataclass
class PeerResult:
    """One engine on one workload: its runs (one per round), or why it has none."""

    workload: str
    engine: str
    version: str
    runs: list[Run] = field(default_factory=list)
    missing: str = ""

    def median(self, figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(run) for run in self.runs) if self.runs else math.nan

    @property
    def rate(self) -> float:
        return self.median(lambda run: run.outcome.events / run.outcome.seconds)

    @property
    def last(self) -> Run:
        return self.runs[-1]


def run_peers(trades: int, rounds: int = 3, root: str | Path | None = None, fast: float = 0.01,
              slow: float = 0.001, engines: tuple[Engine, ...] = ENGINES,
              progress: Callable[[str], None] | None = None) -> list[PeerResult]:
    """Each workload (``WORKLOADS``) for ``rounds`` rounds; within a round every installed
    engine runs once, in ``engines`` order, each in a fresh interpreter."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix="btchannels-peers-"))
        results = []
        for kind in WORKLOADS:
            workload = Workload(kind, trades, str(root), fast, slow)
            workload.prepare()
            table = [PeerResult(kind, engine.name, engine.version() if engine.installed() else "",
                                missing=missing_reason(engine, kind)) for engine in engines]
            for round_no in range(1, rounds + 1):
                for engine, result in zip(engines, table):
                    if result.missing:
                        continue
                    if progress is not None:
                        progress(f"peers: {kind}, round {round_no}/{rounds}: {engine.name} ...")
                    result.runs.append(run_isolated(engine, workload))
            results += table
        return results


def missing_reason(engine: Engine, kind: str) -> str:
    if kind not in engine.workloads:
        return engine.cannot
    if not engine.installed():
        return f"not installed: {INSTALL_HINT}"
    return ""


def _number(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def format_peers(results: list[PeerResult]) -> str:
    """The results as a Markdown table: medians over the rounds; orders, fills and PnL of the
    last round (they are the same in every round: the runs are deterministic)."""
    lines = ["| workload | engine | events | events/s | run s | prepare s | peak RSS MB | ours / engine "
             "| orders | fills | PnL USDT | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    ours = {result.workload: result for result in results if result.engine == OURS.name}
    for result in results:
        name = f"{result.engine} {result.version}".strip()
        if result.missing:
            lines.append(f"| {result.workload} | {name} | | | | | | | | | | {result.missing} |")
            continue
        outcome = result.last.outcome
        ratio = ours[result.workload].rate / result.rate if result.workload in ours else math.nan
        trades_cells = (f"{outcome.orders:,} | {outcome.fills:,} | {outcome.pnl:,.4f}"
                        if result.workload == "trades" else " | | ")
        lines.append(
            f"| {result.workload} | {name} | {outcome.events:,} | {_number(result.rate)} "
            f"| {_number(result.median(lambda run: run.outcome.seconds), 2)} "
            f"| {_number(result.median(lambda run: run.outcome.prepare_seconds), 2)} "
            f"| {_number(result.median(lambda run: run.peak_rss_mb))} | {_number(ratio, 2)} x "
            f"| {trades_cells} | {note(result)} |")
    return "\n".join(lines)


def note(result: PeerResult) -> str:
    checks: dict[str, Any] = result.last.outcome.checks
    if result.workload == "book":
        updates = checks["book_updates"]
        mean = checks["spread_sum"] / updates if updates else math.nan
        return f"{checks['trades']:,} trades + {updates:,} book updates, mean spread {mean:.5f}"
    return next(engine.fills_at for engine in ENGINES if engine.name == result.engine)


def print_peers(results: list[PeerResult], trades: int, file: Any = None) -> None:
    out = file or sys.stdout
    print(f"btchannels bench --peers ({trades:,} trades) on {machine()}\n", file=out)
    print(format_peers(results), file=out)
