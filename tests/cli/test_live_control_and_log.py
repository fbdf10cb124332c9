"""`btchannels live` with a control socket and an event log, stopped by `btchannels ctl`,
then `btchannels replay` of its log: the same decisions, bit for bit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"
STRATEGY_FILE = '''
import backtrader as bt


class BuyTheSecond(bt.Strategy):
    def notify_tick(self, tick):
        if len(self.channels[("tick", "BTC/USDT")]) == 2:
            self.buy(size=0.1)

    def notify_control(self, command):
        print("control:", command)
'''


@pytest.fixture
def server():
    with FakeBinance([SYMBOL], price=60_000.0) as fake:
        yield fake


def btchannels(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backtrader_channels.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_live_run_stopped_over_its_socket_logs_events_that_replay_identically(server, tmp_path):
    strategy, socket_path, log = tmp_path / "strategy.py", tmp_path / "ctl.sock", tmp_path / "run.log"
    strategy.write_text(STRATEGY_FILE)
    process = subprocess.Popen(
        [sys.executable, "-m", "backtrader_channels.cli", "live", str(strategy), "--symbol", SYMBOL,
         "--rest-url", server.http_url, "--ws-url", server.ws_url, "--control-socket", str(socket_path),
         "--event-log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    server.wait_subscriptions(server.trade_stream(SYMBOL), 1, timeout=30)
    server.send_trades(SYMBOL, 6, rate=100)
    deadline = time.monotonic() + 30
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the six trades are handled
    sent = btchannels("ctl", "stop", "--socket", str(socket_path))
    assert sent.returncode == 0, sent.stderr
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "control: stop" in out and "ended: stopped" in out
    fills = next(line for line in out.splitlines() if line.startswith("fills"))
    assert fills.split()[-1] == "1"
    replayed = btchannels("replay", str(log), str(strategy))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "identical" in replayed.stdout


def test_live_control_over_the_bus_needs_the_run_name(tmp_path):
    strategy = tmp_path / "strategy.py"
    strategy.write_text(STRATEGY_FILE)
    done = btchannels("live", str(strategy), "--bus", "redis://127.0.0.1:1")
    assert done.returncode == 2 and done.stderr == "btchannels: --bus: needs --run, the run's name for control commands\n"


SLOW_STRATEGY_FILE = '''
import time

import backtrader as bt


class Slow(bt.Strategy):
    def __init__(self):
        self.trades = 0

    def notify_tick(self, tick):
        self.trades += 1
        time.sleep(0.2)  # far slower than the market: a backlog builds up

    def notify_control(self, command):
        print(f"control: {command} after {self.trades} trades")

    def stop(self):
        print(f"handled: {self.trades} trades")
'''


def test_ctl_stop_ends_a_slow_run_at_the_next_trade_not_after_its_backlog(server, tmp_path):
    strategy, socket_path = tmp_path / "strategy.py", tmp_path / "ctl.sock"
    strategy.write_text(SLOW_STRATEGY_FILE)
    process = subprocess.Popen(
        [sys.executable, "-m", "backtrader_channels.cli", "live", str(strategy), "--symbol", SYMBOL,
         "--rest-url", server.http_url, "--ws-url", server.ws_url, "--control-socket", str(socket_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    server.wait_subscriptions(server.trade_stream(SYMBOL), 1, timeout=30)
    server.send_trades(SYMBOL, 2000)  # at once: 400 s of work for the strategy
    time.sleep(1.5)
    sent = btchannels("ctl", "stop", "--socket", str(socket_path))
    assert sent.returncode == 0, sent.stderr
    out, err = process.communicate(timeout=30)  # before: the whole backlog first, 400 s
    assert process.returncode == 0, err
    lines = out.splitlines()
    at_stop = next(line for line in lines if line.startswith("control: stop after"))
    handled = next(line for line in lines if line.startswith("handled:"))
    assert at_stop.split()[3] == handled.split()[1]  # not one trade after the stop
    rows = {line.partition("  ")[0].strip(): line.partition("  ")[2].strip() for line in lines}
    assert rows["live run"].endswith("ended: stopped")
    left = int(rows["received, not handled at stop"].replace(",", ""))
    trades = int(handled.split()[1])
    assert trades + left == 2000  # every trade handled or counted; the stop is the 2001st event
    assert left > 1900
