"""The engines ``btchannels bench --peers`` compares, and how a fresh interpreter runs one."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .workload import WORKLOADS, Outcome, Workload

INSTALL_HINT = "pip install 'backtrader-channels[peers]'"


@dataclass(frozen=True)
class Engine:
    """One engine: its distribution (for the version and whether it is installed), the
    module and function that run a workload in it, and the workloads it can run."""

    name: str
    distribution: str
    module: str
    function: str
    workloads: tuple[str, ...] = WORKLOADS
    fills_at: str = ""  # where its market orders fill in the trades workload
    cannot: str = ""  # why it cannot run the other workloads

    def installed(self) -> bool:
        return importlib.util.find_spec(self.distribution) is not None

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            return "?"

    def runner(self) -> Callable[[Workload], Outcome]:
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.function)


ENGINES = (
    Engine("backtrader-channels", "backtrader_channels", "ours", "run_ours",
           fills_at="market orders fill at the next trade's price"),
    Engine("backtrader", "backtrader", "backtrader_bars", "run_backtrader", ("trades",),
           fills_at="one bar per trade; market orders fill at the next bar's open (the next trade)",
           cannot="backtrader has no order book"),
    Engine("nautilus_trader", "nautilus_trader", "nautilus", "run_nautilus",
           fills_at="market orders fill at once against the L1 book of the trade being handled, "
                    "in parts when that trade was smaller"),
    Engine("hftbacktest", "hftbacktest", "hft", "run_hftbacktest",
           fills_at="numba-compiled strategy; market orders fill at once at a quote derived "
                    "from the trade being handled"),
)
ENGINE_NAMES = tuple(engine.name for engine in ENGINES)


@dataclass
class Run:
    """One run of an engine in a fresh interpreter: its ``Outcome`` and the peak RSS."""

    outcome: Outcome
    peak_rss_mb: float


CHILD = """
import dataclasses, json, sys
from backtrader_channels.bench.measure import peak_rss_mb
from backtrader_channels.bench.peers.engines import ENGINES
from backtrader_channels.bench.peers.workload import Workload
engine = next(engine for engine in ENGINES if engine.name == sys.argv[1])
outcome = engine.runner()(Workload.from_json(sys.argv[2]))
print(json.dumps({"outcome": dataclasses.asdict(outcome), "peak_rss_mb": peak_rss_mb()}))
"""


def run_isolated(engine: Engine, workload: Workload) -> Run:
    """Run ``engine`` on ``workload`` in a fresh interpreter (its own heap and imports)."""
    done = subprocess.run([sys.executable, "-c", CHILD, engine.name, workload.to_json()],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{engine.name} on the {workload.kind} workload failed:\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(Outcome(**report["outcome"]), report["peak_rss_mb"])
