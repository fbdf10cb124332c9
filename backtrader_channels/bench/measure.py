"""Input sizes, and how a benchmark reports what it measured (``Measured``, ``Row``)."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIZE_ENV = "BTCHANNELS_BENCH_SIZE"
SYMBOLS = ("BTC/USDT", "ETH/USDT")
DAY_START_NS = 1_735_689_600 * 10**9  # 2025-01-01T00:00:00Z
DAY_SECONDS = 86_400
DAY_TRADES = 17_000_000  # a busy BTC/USDT day: generated trades keep its density
BOOK_UPDATE_SECONDS = 0.1  # one book update every 100 ms per symbol, as Binance's depth@100ms
BASE_CENTS = (9_400_000, 340_000)  # 94,000.00 and 3,400.00 USDT
WRITE_CHUNK = 1_000_000  # rows generated and written at a time


# --- sizes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Input sizes of one benchmark mode."""

    name: str
    ticks: int  # 1: trades through notify_tick
    backtrader_ticks: int  # 1: the same ticks as bars through backtrader's own engine
    limit_trades: int  # 2: trades matched against resting limits, in-process benchmark
    book_updates: int  # 3: book updates per symbol, 10 levels each
    book_trades: int  # 3: trades per symbol
    book_levels: int  # 3: levels per side of each book
    bridge_ticks: int  # 4: ticks through ChannelBridge + SMA(20)
    queue_events: int  # 5: events through a LiveEventQueue
    zip_rows: int  # 6: rows of the Binance zip
    memory_rows: tuple[int, int]  # 7: a small and a large input, each run in a subprocess
    scaling_trades: tuple[int, ...]  # scaling: targets 1 and 2 on each, each run in a subprocess
    latency_seconds: float  # live: seconds of sending at each rate
    rounds: int  # rounds per benchmark (the median is reported)


SIZES = {
    "quick": Sizes("quick", ticks=100_000, backtrader_ticks=20_000, limit_trades=200_000,
                   book_updates=10_000, book_trades=20_000, book_levels=1_000, bridge_ticks=50_000,
                   queue_events=100_000, zip_rows=200_000, memory_rows=(100_000, 400_000),
                   scaling_trades=(100_000, 400_000), latency_seconds=1.0, rounds=1),
    "full": Sizes("full", ticks=2_000_000, backtrader_ticks=100_000, limit_trades=5_000_000,
                  book_updates=250_000, book_trades=500_000, book_levels=1_000,
                  bridge_ticks=1_000_000, queue_events=1_000_000, zip_rows=5_000_000,
                  memory_rows=(1_000_000, 17_000_000), scaling_trades=(1_000_000, 5_000_000, 17_000_000),
                  latency_seconds=10.0, rounds=3),
}


def sizes_from_env(default: str = "quick") -> Sizes:
    """The sizes named by ``BTCHANNELS_BENCH_SIZE`` (``quick`` or ``full``)."""
    name = os.environ.get(SIZE_ENV, default).strip().lower() or default
    if name not in SIZES:
        raise ValueError(f"{SIZE_ENV} must be one of {', '.join(SIZES)}, got {name!r}")
    return SIZES[name]


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Measured:
    """One run of a scenario: ``count`` things in ``seconds``, plus figures to check."""

    count: int
    seconds: float
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.inf


def median_rate(runs: list[Measured]) -> float:
    return statistics.median(run.rate for run in runs)


def repeat(scenario: Callable[[], Measured], rounds: int) -> list[Measured]:
    return [scenario() for _ in range(rounds)]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` of a child started by
    ``subprocess`` can report the *parent's* peak (the pre-exec high-water mark is kept).
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux



@dataclass
class Row:
    """One line of the bench table: a figure against its goal."""

    target: str
    what: str
    figure: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None or math.isnan(self.figure):
            return None
        return self.figure >= self.goal if self.higher_is_better else self.figure <= self.goal


def rate_row(target: str, what: str, runs: list[Measured], goal: float | None, note: str = "",
              unit: str = "/s") -> Row:
    return Row(target, what, median_rate(runs), unit, goal, note=note)


def machine() -> str:
    """'2 cores, <CPU model>, Python 3.x.y'."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"
