"""``btchannels bench``: the table and its command-line entry point (``main_bench``)."""

from __future__ import annotations

import pytest

from backtrader_channels import bench


def test_rows_are_judged_against_their_goals():
    rows = [bench.Row("1", "fast", 2e6, "events/s", 1e6),
            bench.Row("7", "memory", 250.0, "MB", 200.0, higher_is_better=False),
            bench.Row("cost", "info", 5.0, "x")]
    assert [row.met for row in rows] == [True, False, None]
    table = bench.format_rows(rows)
    assert "| 1 | fast | 2,000,000 events/s | >= 1,000,000 | yes |" in table
    assert "| 7 | memory | 250 MB | <= 200 | **missed** |" in table


def test_sizes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(bench.SIZE_ENV, "full")
    assert bench.sizes_from_env().name == "full"
    monkeypatch.setenv(bench.SIZE_ENV, "huge")
    with pytest.raises(ValueError, match="quick, full"):
        bench.sizes_from_env()


def test_main_bench_prints_the_table_for_chosen_targets(capsys, tmp_path):
    assert bench.main_bench(["--only", "5", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "btchannels bench (quick) on" in out
    assert out.count("| 5 |") == 3


def test_main_bench_refuses_unknown_targets(capsys):
    with pytest.raises(SystemExit):
        bench.main_bench(["--only", "9"])
    assert "unknown target" in capsys.readouterr().err


def test_jobs_expand_the_cost_table_one_row_each():
    assert bench.job_names(["2", "costs"]) == ["2", *(bench.COST_JOB + name for name in bench.COSTS)]
    assert bench.job_names()[:2] == ["1", "2"]


@pytest.mark.parametrize(("option", "message"), [
    (["--ema", "0.001,0.01"], "expected 0 < SLOW < FAST <= 1, got '0.001,0.01'"),
    (["--ema", "fast"], "expected FAST,SLOW (two numbers), got 'fast'"),
    (["--trades", "0"], "must be at least 1, got 0"),
])
def test_main_bench_refuses_bad_peers_options(capsys, option, message):
    with pytest.raises(SystemExit):
        bench.main_bench(["--peers", *option])
    assert message in capsys.readouterr().err
