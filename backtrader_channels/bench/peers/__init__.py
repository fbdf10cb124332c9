"""``btchannels bench --peers``: this project next to backtrader, nautilus_trader and hftbacktest.

The same generated workloads (``workload.py``) and the same strategy rule (``EmaCross``) run
in every engine, each run in a fresh interpreter, the engines alternating within each
round; ``format_peers`` prints events/s, times, peak RSS, the ratio to this project, and
the orders, fills and PnL, so differences in fill semantics show. nautilus_trader and
hftbacktest come with the ``peers`` extra; without them their rows say how to install it.
"""

from .comparison import PeerResult, format_peers, print_peers, run_peers
from .engines import ENGINE_NAMES, ENGINES, INSTALL_HINT, Engine, Run, run_isolated
from .workload import WORKLOADS, EmaCross, Outcome, Workload

__all__ = [
    "ENGINES",
    "ENGINE_NAMES",
    "INSTALL_HINT",
    "WORKLOADS",
    "EmaCross",
    "Engine",
    "Outcome",
    "PeerResult",
    "Run",
    "Workload",
    "format_peers",
    "print_peers",
    "run_isolated",
    "run_peers",
]
