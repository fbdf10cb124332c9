"""Job specs: the grid, the order of jobs, the files each job reads, and bad input."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from backtrader_channels.sweep import StrategyRef, build_jobs, parameter_grid, strategy_ref
from backtrader_channels.sweep.spec import day_of, expand_files
from tests.sweep.conftest import STRATEGY

REF = StrategyRef(path=str(STRATEGY), name="MovingAverageCross")


def test_parameter_grid_varies_the_last_parameter_fastest():
    assert parameter_grid({"fast": [10, 20], "slow": [100, 200, 300]}) == [
        {"fast": 10, "slow": 100}, {"fast": 10, "slow": 200}, {"fast": 10, "slow": 300},
        {"fast": 20, "slow": 100}, {"fast": 20, "slow": 200}, {"fast": 20, "slow": 300},
    ]
    with pytest.raises(ValueError, match="parameter 'slow' has no values"):
        parameter_grid({"fast": [1], "slow": []})


def test_per_day_jobs_run_parameter_set_then_symbol_then_day(btc_days, eth_days):
    jobs = build_jobs(REF, {"fast": [10, 20]}, {"BTC/USDT": btc_days, "ETH/USDT": eth_days}, per_day=True)
    assert [(job.index, job.params["fast"], job.symbol, job.day) for job in jobs] == [
        (0, 10, "BTC/USDT", "2025-01-01"), (1, 10, "BTC/USDT", "2025-01-02"), (2, 10, "BTC/USDT", "2025-01-03"),
        (3, 10, "ETH/USDT", "2025-01-01"), (4, 10, "ETH/USDT", "2025-01-02"),
        (5, 20, "BTC/USDT", "2025-01-01"), (6, 20, "BTC/USDT", "2025-01-02"), (7, 20, "BTC/USDT", "2025-01-03"),
        (8, 20, "ETH/USDT", "2025-01-01"), (9, 20, "ETH/USDT", "2025-01-02"),
    ]
    (channel,) = jobs[4].channels
    assert (channel.kind, channel.symbol, [Path(p).name for p in channel.paths]) == (
        "tick", "ETH/USDT", ["ETHUSDT-trades-2025-01-02.parquet"])
    assert pickle.loads(pickle.dumps(jobs[4])) == jobs[4]  # a spec travels to workers as it is


def test_whole_range_and_carry_jobs_read_every_day_in_order(btc_days):
    whole = build_jobs(REF, {"fast": [10]}, {"BTC/USDT": btc_days})
    carry = build_jobs(REF, {"fast": [10]}, {"BTC/USDT": btc_days}, per_day=True, carry=True)
    for jobs in (whole, carry):
        (job,) = jobs
        assert [Path(p).name for p in job.channels[0].paths] == [
            f"BTCUSDT-trades-2025-01-0{d}.parquet" for d in (1, 2, 3)]
    assert (whole[0].day, whole[0].split_days) == ("2025-01-01..2025-01-03", False)
    assert (carry[0].days, carry[0].split_days) == (("2025-01-01", "2025-01-02", "2025-01-03"), True)


def test_books_pair_with_trades_by_day(tmp_path, btc_days):
    for day in ("2025-01-01", "2025-01-02"):
        (tmp_path / f"book-{day}.jsonl.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"BTC/USDT: book days \['2025-01-01', '2025-01-02'\] differ"):
        build_jobs(REF, {"fast": [1]}, {"BTC/USDT": btc_days}, books={"BTC/USDT": str(tmp_path / "book-*")})
    with pytest.raises(ValueError, match="book files for symbols without trades: ETH/USDT"):
        build_jobs(REF, {"fast": [1]}, {"BTC/USDT": btc_days}, books={"ETH/USDT": str(tmp_path / "book-*")})


def test_bad_sweeps_are_refused_with_the_reason(tmp_path, btc_days):
    with pytest.raises(FileNotFoundError, match="nothing-\\*.zip: no such file"):
        build_jobs(REF, {"fast": [1]}, {"BTC/USDT": str(tmp_path / "nothing-*.zip")})
    with pytest.raises(ValueError, match="carry applies to per-day runs"):
        build_jobs(REF, {"fast": [1]}, {"BTC/USDT": btc_days}, carry=True)
    (tmp_path / "a.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match=r"carry splits by date: no YYYY-MM-DD in the file names of BTC/USDT \(a\)"):
        build_jobs(REF, {"fast": [1]}, {"BTC/USDT": str(tmp_path / "a.parquet")}, per_day=True, carry=True)
    (tmp_path / "x-2025-01-01.csv").write_bytes(b"")
    (tmp_path / "y-2025-01-01.csv").write_bytes(b"")
    with pytest.raises(ValueError, match="two files for day 2025-01-01"):
        build_jobs(REF, {"fast": [1]}, {"BTC/USDT": str(tmp_path / "*.csv")})
    with pytest.raises(FileNotFoundError, match="missing.py: no such strategy file"):
        strategy_ref(tmp_path / "missing.py")


def test_days_come_from_file_names_and_urls_expand_through_fsspec(btc_days):
    assert day_of("data/BTCUSDT-trades-2025-01-07.zip") == "2025-01-07"
    assert day_of("https://host/x/BTCUSDT-trades-2025-01-07.zip") == "2025-01-07"
    assert day_of("recording.parquet") == "recording"
    urls = expand_files("file://" + btc_days)
    assert urls == ["file://" + path for path in sorted(expand_files(btc_days))]
    assert len(urls) == 3


def test_a_strategy_file_travels_with_its_text_to_workers_that_cannot_see_it(tmp_path, btc_days):
    from backtrader_channels.sweep.jobs import run_job

    copy = tmp_path / "moved_strategy.py"
    copy.write_text(STRATEGY.read_text())
    ref = strategy_ref(f"{copy}:MovingAverageCross")
    assert (ref.path, ref.name, ref.source) == (str(copy), "MovingAverageCross", STRATEGY.read_text())
    copy.unlink()  # as on a machine without the file
    job = build_jobs(ref, {"fast": [10]}, {"BTC/USDT": btc_days}, per_day=True)[0]
    (row,) = run_job(job)
    assert row["error"] == "" and row["fills"] > 0


@pytest.fixture
def http_server(btc_days):
    """A real HTTP server on 127.0.0.1 serving the directory of the days."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(Path(btc_days).parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_workers_read_data_from_urls(http_server, btc_days, tmp_path, monkeypatch):
    from backtrader_channels.sweep import jobs

    monkeypatch.setattr(jobs, "CACHE_DIR", tmp_path / "cache")
    local = sorted(expand_files(btc_days))
    urls = [f"{http_server}/{Path(path).name}" for path in local]
    from_files = build_jobs(REF, {"fast": [10]}, {"BTC/USDT": local}, per_day=True)
    from_urls = build_jobs(REF, {"fast": [10]}, {"BTC/USDT": urls}, per_day=True)
    from_file_urls = build_jobs(REF, {"fast": [10]}, {"BTC/USDT": ["file://" + p for p in local]}, per_day=True)
    rows = [jobs.run_job(job)[0] for job in (from_files[1], from_urls[1], from_file_urls[1])]
    assert rows[1]["error"] == "" and rows[1]["events"] > 5000
    numbers = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert numbers[0] == numbers[1] == numbers[2]
    (cached,) = (tmp_path / "cache" / "data").glob("*/*")
    assert cached.name == "BTCUSDT-trades-2025-01-02.parquet"
    assert cached.read_bytes() == Path(local[1]).read_bytes()


def test_command_line_parameters_and_clashing_names():
    import argparse

    from backtrader_channels.sweep.command import parse_param

    assert parse_param("fast=10,20,50") == ("fast", [10, 20, 50])
    assert parse_param("ratio = 0.5, 1e-3") == ("ratio", [0.5, 0.001])
    assert parse_param("mode=long,short,None,True") == ("mode", ["long", "short", None, True])
    for bad in ("fast", "fast=", "=1,2"):
        with pytest.raises(argparse.ArgumentTypeError, match="--param takes NAME=V1,V2"):
            parse_param(bad)
    with pytest.raises(ValueError, match="parameter names clash with table columns: fees, symbol"):
        sweep_with({"fees": [1], "symbol": ["x"]})
    with pytest.raises(ValueError, match="workers= sizes the local cluster; 'serial' has its own workers"):
        sweep_with({"fast": [1]}, workers=2)
    with pytest.raises(ValueError, match=r"heatmap axes \('fast', 'nope'\) must be swept parameters"):
        sweep_with({"fast": [1]}, heatmap=("fast", "nope"))


def sweep_with(params, **kw):
    from backtrader_channels.sweep import sweep

    return sweep(STRATEGY, params, "unused-*.zip", scheduler="serial", progress=False, **kw)


def test_a_job_the_cluster_gives_up_on_becomes_failed_rows(btc_days):
    from distributed import KilledWorker

    from backtrader_channels.sweep.execute import _collect

    job = build_jobs(REF, {"fast": [10]}, {"BTC/USDT": btc_days}, per_day=True, carry=True)[0]

    def lost():
        raise KilledWorker("btchannels-sweep-x-0", SimpleNamespace(address="tcp://127.0.0.1:1"), 3)

    outcome = _collect([job], lambda: iter([(job, lost)]), progress=False)
    assert [row["day"] for row in outcome.rows] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert all(row["error"].startswith("lost by the cluster: KilledWorker: Attempted to run task") for row in outcome.rows)
    assert all(math.isnan(row["pnl"]) for row in outcome.rows) and not outcome.cancelled


def test_importing_the_package_or_the_cli_leaves_dask_tqdm_and_pandas_alone():
    import subprocess
    import sys

    code = ("import sys, backtrader_channels, backtrader_channels.sweep, backtrader_channels.cli as cli; "
            "cli._parser(); print(sorted(m for m in ('dask', 'distributed', 'tqdm', 'pandas') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert completed.stdout.strip() == "[]"
