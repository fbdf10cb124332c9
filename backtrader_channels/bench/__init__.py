"""Benchmarks of the performance targets: inputs, scenarios and the ``btchannels bench`` table.

Each ``scenario_*`` function runs one measured workload and returns a ``Measured`` (what
was counted, how long it took, the checks a test asserts); ``run_bench(size)`` runs them
all, each target in a fresh interpreter, and returns the table rows; ``main_bench(argv)``
(``btchannels bench``) prints the table. The pytest-benchmark
suite in ``tests/benchmarks/`` wraps the same scenarios. Input sizes come from
``BTCHANNELS_BENCH_SIZE``: ``quick`` (the default, seconds) or ``full`` (up to a 17-million-trade day).
Inputs are generated with numpy and written with the project's writers (and, for the
Binance zip, in Binance's own layout) into a directory, once. ``btchannels bench --only soak``
runs the soak test instead (soak.py: the live parts together, with faults, for minutes or hours).
"""

from .costs import COSTS
from .inputs import Inputs
from .live_latency import scenario_latency
from .measure import SIZE_ENV, SIZES, SYMBOLS, Measured, Row, Sizes, median_rate, sizes_from_env
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
from .suite import (
    COST_JOB,
    bench_parser,
    format_rows,
    job_names,
    job_rows,
    main_bench,
    print_rows,
    run_bench,
)

__all__ = [
    "COSTS",
    "COST_JOB",
    "SIZES",
    "SIZE_ENV",
    "SYMBOLS",
    "Inputs",
    "Measured",
    "Row",
    "Sizes",
    "backtrader_frame",
    "bench_parser",
    "format_rows",
    "job_names",
    "job_rows",
    "main_bench",
    "median_rate",
    "print_rows",
    "queue_events",
    "run_bench",
    "scenario_backtrader",
    "scenario_books",
    "scenario_bridge",
    "scenario_convert",
    "scenario_fresh",
    "scenario_latency",
    "scenario_limits",
    "scenario_load_zip",
    "scenario_memory",
    "scenario_order_flow",
    "scenario_orders",
    "scenario_queue_one_thread",
    "scenario_queue_threads",
    "scenario_ticks",
    "sizes_from_env",
]
