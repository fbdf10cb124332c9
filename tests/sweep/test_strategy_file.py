"""Strategy files: one loader (strategy_file.py) for the command line and sweeps; a file that
cannot give its strategy is a StrategyFileError naming the file and the problem, which the
command line turns into its exit and a sweep into failed rows."""

from __future__ import annotations

import math

import pytest

from backtrader_channels.cli import main
from backtrader_channels.strategy_file import StrategyFileError, load_strategy
from backtrader_channels.sweep import StrategyRef, build_jobs
from backtrader_channels.sweep.jobs import run_job

TWO = """
import backtrader as bt


class Fast(bt.Strategy):
    pass


class Slow(bt.Strategy):
    pass
"""


def test_a_file_gives_the_strategy_asked_for_or_says_what_is_wrong(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(TWO)
    assert load_strategy(path, "Slow").__name__ == "Slow"
    with pytest.raises(StrategyFileError) as error:
        load_strategy(path)
    assert str(error.value) == f"{path} defines 2 strategy classes (Fast, Slow); choose one with --strategy"
    with pytest.raises(ValueError, match=r"^no strategy class 'Medium' in .*two\.py \(found: Fast, Slow\)$"):
        load_strategy(path, "Medium")
    missing = tmp_path / "missing.py"
    with pytest.raises(ValueError, match=f"^strategy file not found: {missing}$"):
        load_strategy(missing)


def test_the_command_line_exits_with_the_one_line_error(tmp_path, capsys):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["sweep", str(empty), "--ticks", str(tmp_path / "t.csv"), "--scheduler", "serial"]) == 2
    assert capsys.readouterr().err == (f"btchannels: {empty} defines 0 strategy classes (none); "
                                       "choose one with --strategy\n")


def test_a_sweep_job_whose_file_has_no_strategy_becomes_failed_rows(tmp_path, btc_days):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    (job,) = build_jobs(StrategyRef(path=str(empty)), {"fast": [10]}, {"BTC/USDT": btc_days})
    (row,) = run_job(job)
    assert row["job"] == 0 and row["fast"] == 10 and math.isnan(row["pnl"])
    assert row["error"].rstrip().splitlines()[-1] == (
        f"backtrader_channels.strategy_file.StrategyFileError: {empty} defines 0 strategy classes (none); "
        "choose one with --strategy"
    )
