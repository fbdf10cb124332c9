"""Sweeps on a real local Dask cluster (two worker processes): the same table as a serial
loop, failed jobs reported, a killed worker losing no row, Ctrl-C keeping finished rows."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from distributed import Client, LocalCluster

from backtrader_channels.sweep import build_jobs, strategy_ref, sweep
from backtrader_channels.sweep.jobs import run_job
from backtrader_channels.sweep.results import build_table
from tests.sweep.conftest import STRATEGY

GRID = {"fast": [10, 20], "slow": [100, 200]}


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def serial_loop_table(btc_days: str) -> pd.DataFrame:
    """The table as a plain loop over the jobs in this process builds it."""
    jobs = build_jobs(strategy_ref(STRATEGY), GRID, {"BTC/USDT": btc_days}, per_day=True)
    return build_table([row for job in jobs for row in run_job(job)], list(GRID))


def without_seconds(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="seconds")


def test_the_cluster_table_equals_a_serial_loop_and_repeats_exactly(client, btc_days, tmp_path):
    first = sweep(STRATEGY, GRID, btc_days, per_day=True, scheduler=client, progress=False, out=tmp_path)
    again = sweep(STRATEGY, GRID, btc_days, per_day=True, scheduler=client, progress=False)
    expected = serial_loop_table(btc_days)
    assert len(first.table) == 12 and first.complete
    pd.testing.assert_frame_equal(without_seconds(first.table), without_seconds(expected))
    pd.testing.assert_frame_equal(without_seconds(again.table), without_seconds(expected))
    assert (first.table["seconds"] > 0).all()
    written = pd.read_parquet(first.files["parquet"])
    pd.testing.assert_frame_equal(written, first.table)
    assert list(pd.read_csv(first.files["csv"])["pnl"].round(9)) == list(first.table["pnl"].round(9))
    assert first.files["heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = first.best(1).iloc[0]
    totals = first.table.groupby(["fast", "slow"])["pnl"].sum()
    assert (best.fast, best.slow) == totals.idxmax() and best.pnl == pytest.approx(totals.max())


def test_a_failing_job_is_reported_and_the_others_finish(client, btc_days):
    grid = {"fast": [10, 20], "slow": [100], "fail_at": [20]}
    result = sweep(STRATEGY, grid, btc_days, per_day=True, scheduler=client, progress=False)
    assert len(result.table) == 6 and not result.complete
    failed = result.failures
    assert list(failed["job"]) == [3, 4, 5] and set(failed["fast"]) == {20}
    for error in failed["error"]:
        assert "Traceback (most recent call last)" in error
        assert "RuntimeError: fast=20 is not allowed" in error and "grid_strategy.py" in error
    assert failed["pnl"].isna().all()
    good = result.table[result.table["error"] == ""]
    assert list(good["job"]) == [0, 1, 2] and (good["fills"] > 0).all()


def test_a_killed_worker_loses_no_row(client, btc_days, tmp_path):
    marker = tmp_path / "died"
    grid = {**GRID, "die_at": [20], "die_marker": [str(marker)]}
    pids_before = set(client.run(os.getpid).values())
    result = sweep(STRATEGY, grid, btc_days, per_day=True, scheduler=client, progress=False)
    assert marker.exists(), "a job killed its worker"
    assert int(marker.read_text()) in pids_before
    assert int(marker.read_text()) not in set(client.run(os.getpid).values())  # replaced by the nanny
    assert result.complete and list(result.table["job"]) == list(range(12))
    expected = serial_loop_table(btc_days)
    pd.testing.assert_frame_equal(
        without_seconds(result.table).drop(columns=["die_at", "die_marker"]), without_seconds(expected))


@pytest.mark.slow
def test_the_command_runs_on_a_scheduler_address(client, btc_days, eth_days, tmp_path):
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "backtrader_channels.cli", "sweep", str(STRATEGY), "--ticks", btc_days,
         "--symbol", "BTC/USDT", "--ticks", eth_days, "--symbol", "ETH/USDT", "--param", "fast=10,20",
         "--param", "slow=100", "--scheduler", client.scheduler.address, "--out", str(out), "--top", "2"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(zip(table["fast"], table["symbol"], table["day"])) == [
        (10, "BTC/USDT", "2025-01-01..2025-01-03"), (10, "ETH/USDT", "2025-01-01..2025-01-02"),
        (20, "BTC/USDT", "2025-01-01..2025-01-03"), (20, "ETH/USDT", "2025-01-01..2025-01-02"),
    ]
    assert "4 of 4 jobs finished, 0 failed" in completed.stdout
    assert "best parameter sets" in completed.stdout
    assert re.search(r"4/4 \[", completed.stderr), "the progress bar counts jobs"
    assert (out / "heatmap.png").exists() and (out / "sweep.csv").exists()


@pytest.mark.slow
def test_ctrl_c_cancels_the_sweep_and_keeps_the_finished_rows(btc_days, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "backtrader_channels.cli", "sweep", str(STRATEGY), "--ticks", btc_days,
               "--per-day", "--param", "fast=10,20,30,40", "--param", "slow=100", "--param", "pause=1.0",
               "--workers", "2", "--out", str(out)]  # its own local cluster
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    progress, deadline = b"", time.monotonic() + 60
    while not re.search(rb"\b[1-9]\d*/12 \[", progress) and time.monotonic() < deadline:
        progress += os.read(process.stderr.fileno(), 4096)  # the bar shows a finished job
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout
    table = pd.read_parquet(out / "sweep.parquet")
    assert 1 <= len(table) < 12
    assert (table["error"] == "").all() and table["job"].is_unique
    assert f"{len(table)} of 12 jobs finished, 0 failed (cancelled" in stdout.decode()
    assert b"KeyboardInterrupt" not in stderr, "only the sweep process handles Ctrl-C, not its workers"
