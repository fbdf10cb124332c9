"""One-run measurement for docs/sweeps.md: a 12-job sweep serial vs a local Dask cluster of
two workers, and the scheduler's overhead per job.

    python -m tests.benchmarks.sweep_speedup [--trades 200000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster

from backtrader_channels.sample import TRADES_PER_HOUR
from backtrader_channels.sweep import sweep
from tests.sweep.conftest import STRATEGY, write_days

GRID = {"fast": [10, 20], "slow": [100, 200]}
DAYS = ("2025-01-01", "2025-01-02", "2025-01-03")


def no_op(index: int) -> int:
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=200_000, help="about this many trades per day")
    args = parser.parse_args()
    import tests.sweep.conftest as data

    data.DAY_SECONDS = 3600.0 * args.trades / TRADES_PER_HOUR
    with tempfile.TemporaryDirectory() as tmp:
        ticks = write_days(Path(tmp), "BTCUSDT", DAYS, seed=1)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        started = time.perf_counter()
        serial = sweep(STRATEGY, GRID, ticks, per_day=True, scheduler="serial", progress=False)
        serial_wall = time.perf_counter() - started
        started = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            startup = time.perf_counter() - started
            started = time.perf_counter()
            parallel = sweep(STRATEGY, GRID, ticks, per_day=True, scheduler=client, progress=False)
            cluster_wall = time.perf_counter() - started
            tasks = 500
            started = time.perf_counter()
            client.gather(client.map(no_op, range(tasks), pure=False))
            per_task = (time.perf_counter() - started) / tasks
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    same = serial.table.drop(columns="seconds").equals(parallel.table.drop(columns="seconds"))
    jobs = len(serial.table)
    print(f"{jobs} jobs, {int(serial.table['events'].mean()):,} trades each; tables equal: {same}")
    print(f"serial:        {serial_wall:6.2f} s (sum of job seconds {serial.table['seconds'].sum():.2f} s)")
    print(f"local cluster: {cluster_wall:6.2f} s on 2 workers (+ {startup:.2f} s to start the cluster)")
    print(f"speed-up:      {serial_wall / cluster_wall:.2f}x ({serial_wall / (cluster_wall + startup):.2f}x with start-up)")
    overhead = (2 * cluster_wall - parallel.table["seconds"].sum()) / jobs
    print(f"overhead per job in the sweep (2 x wall - job seconds) / jobs: {1e3 * overhead:.0f} ms")
    print(f"scheduler round trip per no-op task ({tasks} tasks): {1e3 * per_task:.2f} ms")


if __name__ == "__main__":
    main()
