"""The soak test, ``btchannels bench --only soak``: its options, and a 20-second run with a
fault about every 1.2 s (each kind at least once) whose report must have every figure and add up."""

from __future__ import annotations

import json

import pytest

from backtrader_channels import bench
from backtrader_channels.bench.soak import (
    FAULT_KINDS,
    PIPELINES,
    SoakConfig,
    config_from_args,
    format_report,
    run_soak,
    soak_parser,
)


def test_the_soak_lasts_ten_minutes_unless_told_and_takes_hours():
    assert config_from_args(soak_parser().parse_args([])).seconds == 600.0
    assert config_from_args(soak_parser().parse_args(["--hours", "1"])).seconds == 3600.0
    assert config_from_args(soak_parser().parse_args(["--minutes", "0.5", "--seed", "7"])).seconds == 30.0


@pytest.mark.parametrize("argv", [["--minutes", "-5"], ["--minutes", "nan"], ["--hours", "0"],
                                  ["--minutes", "1", "--hours", "1"]])
def test_the_soak_refuses_a_length_that_is_not_one_positive_number(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        soak_parser().parse_args(argv)
    assert stopped.value.code == 2


def test_bench_runs_the_soak_alone(capsys):
    with pytest.raises(SystemExit):
        bench.main_bench(["--only", "5,soak"])
    assert "soak runs alone" in capsys.readouterr().err


@pytest.fixture(scope="module")
def report():
    return run_soak(SoakConfig(seconds=20.0, seed=3, fault_every=1.2, stale_timeout=3.0, sample_every=5.0))


@pytest.mark.slow
def test_the_report_has_every_figure_and_every_fault_kind(report):
    assert report["duration_s"] >= 20.0
    assert set(report["faults"]) == set(FAULT_KINDS)
    server = report["server"]
    assert server["trade_ids"] >= 100 * 20  # 100 trades a second, and more while settling
    assert server["bad_trades"] == report["faults"]["bad_trade"]
    assert server["skipped_ids"] >= report["faults"]["skip_ids"]
    for name in PIPELINES:
        pipeline = report["pipelines"][name]
        trades, book = pipeline["trades_feed"], pipeline["book_feed"]
        assert trades["trades"] > server["trade_ids"] / 2, name
        assert trades["reconnects"] >= 2 and trades["watchdog_restarts"] >= 1, name  # drops, then a mute
        assert book["resyncs"] >= 1 and book["books"] > 0, name  # a depth gap
        assert trades["bad_messages"] >= 1, name
        assert pipeline["sink"], name
    assert report["pipelines"]["recorder"]["sink"]["trades"] == report["pipelines"]["recorder"]["trades_feed"]["trades"]
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["latency_ms"]["p50"] < 100.0  # the seed's live-latency target, on loopback
    assert report["queue_wait_ms"]["p50"] is not None
    assert 0 < report["rss_mb"]["start"] <= report["rss_mb"]["max"]
    assert len(report["rss_samples"]) >= 4  # every 5 s, and one at the end
    assert report["exchange_ledger"]["orders"] >= 1 and report["strategy"]["orders"]["Submitted"] >= 1
    assert report["errors"] == []
    assert json.loads(json.dumps(report, default=str))["faults"] == report["faults"]
    text = format_report(report)
    failed = [check for check in report["reconciliation"] if not check["ok"]]
    assert text.count("FAIL ") == len(failed)
    assert text.endswith("every count adds up" if report["reconciled"] else "NOT RECONCILED")


@pytest.mark.slow
def test_what_each_feed_delivered_is_what_its_sink_took(report):
    """The strategy, the recorder's files and the bus consumer against their feeds."""
    sinks = [check for check in report["reconciliation"] if "trade ids issued" not in check["name"]
             and "bad frames" not in check["name"]]
    assert len(sinks) == 11  # paper 2, recorder 4, bus 4, and the fills
    assert [check for check in sinks if not check["ok"]] == []


@pytest.mark.slow
def test_every_trade_id_is_delivered_or_counted_once_under_its_cause(report):
    feeds = [check for check in report["reconciliation"] if "trade ids issued" in check["name"]
             or "bad frames" in check["name"]]
    assert len(feeds) == 2 * len(PIPELINES)
    assert [check for check in feeds if not check["ok"]] == []
    assert report["reconciled"]
