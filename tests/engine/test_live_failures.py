"""Live runs that cannot work end with a clear error and a non-zero exit, never hang or pass."""

from __future__ import annotations

import subprocess
import sys

import backtrader as bt

from backtrader_channels.feeds import Backoff, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from tests.phase4.test_ccxt_feed import free_port, wait_for
from tests.phase4.test_live_run import STRATEGY_FILE, SYMBOL, BuyThirdTick, server  # noqa: F401


def live_process(tmp_path, strategy_source: str, *options: str) -> subprocess.Popen:
    """``btchannels live`` on a strategy file with ``strategy_source``, started, output piped."""
    strategy = tmp_path / "strategy.py"
    strategy.write_text(strategy_source)
    command = [sys.executable, "-m", "backtrader_channels.cli", "live", str(strategy), *options]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def btchannels_live(tmp_path, *options: str, timeout: float = 60) -> subprocess.CompletedProcess:
    process = live_process(tmp_path, STRATEGY_FILE, *options)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_unknown_symbol_stops_the_run_without_duration_with_the_error(server, tmp_path):  # noqa: F811
    done = btchannels_live(tmp_path, "--symbol", "NOPE/USDT", "--rest-url", server.http_url, "--ws-url", server.ws_url)
    assert done.returncode == 1
    assert "btchannels: live run failed: feed failed: CCXTLiveTickFeed('binance', 'NOPE/USDT'): BadSymbol" in done.stderr
    rows = dict(line.split(None, 1) for line in done.stdout.splitlines() if line.startswith("feed error"))
    assert "BadSymbol" in rows["feed"]
    assert "ended: feed failed" in done.stdout


def test_a_run_that_never_connects_exits_non_zero_and_says_no_event_arrived(tmp_path):
    port = free_port()  # nothing listens there
    done = btchannels_live(tmp_path, "--symbol", SYMBOL, "--duration", "1.5",
                           "--rest-url", f"http://127.0.0.1:{port}", "--ws-url", f"ws://127.0.0.1:{port}/ws")
    assert done.returncode == 1
    assert "btchannels: live run failed: no event arrived" in done.stderr
    received = next(line for line in done.stdout.splitlines() if line.startswith("events received"))
    assert received.split()[2:] == ["0", "(no", "event", "arrived)"]


def test_a_feed_dying_mid_run_stops_the_run_with_the_reason(server):  # noqa: F811
    queue = LiveEventQueue()
    cerebro = bt.Cerebro(stdstats=False)
    config = server.ccxt_config()
    cerebro.add_live_feed(CCXTLiveTickFeed("binance", SYMBOL, queue, config=config, backoff=Backoff(0.05, 0.2)))
    dead = CCXTLiveTickFeed("binance", "DOGE/USDT", queue, config=config)  # the server has no such market
    cerebro.add_live_feed(dead)
    cerebro.addstrategy(BuyThirdTick, stop_after=10**9)
    cerebro.run(mode=bt.RunMode.TICK, duration=30)  # returns long before the 30 s
    session = cerebro._bc_engine.live
    assert session.stop_reason.startswith("feed failed: CCXTLiveTickFeed('binance', 'DOGE/USDT'): BadSymbol")
    assert session.failure.startswith("feed failed:")
    assert dead.error is not None and not dead.running


def test_keep_going_retries_a_fatal_feed_error_with_backoff_and_reports_it(server):  # noqa: F811
    feed = CCXTLiveTickFeed("binance", "DOGE/USDT", LiveEventQueue(), config=server.ccxt_config(),
                            backoff=Backoff(0.05, 0.1), keep_going=True)
    runner = feed.start_in_thread()
    wait_for(lambda: feed.stats.failures >= 3)
    assert feed.running and feed.error is None
    assert type(feed.last_error).__name__ == "BadSymbol"
    assert runner.stop(timeout=5) and runner.errors == []


def test_btchannels_live_keep_going_shows_the_failures_in_the_summary(server, tmp_path):  # noqa: F811
    done = btchannels_live(tmp_path, "--symbol", "NOPE/USDT", "--keep-going", "--duration", "2",
                           "--rest-url", server.http_url, "--ws-url", server.ws_url)
    assert "ended: duration" in done.stdout  # not stopped by the failing feed
    failures = next(line for line in done.stdout.splitlines() if line.startswith("feed failures tick NOPE/USDT"))
    assert "kept going; last: BadSymbol" in failures
    assert "feed failures" in done.stderr  # the status line
    assert done.returncode == 1 and "no event arrived" in done.stderr
