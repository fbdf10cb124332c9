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


def test_live_control_over_the_bus_needs_the_run_name():
    done = btchannels("live", "strategy.py", "--bus", "redis://127.0.0.1:1")
    assert done.returncode == 1 and "--bus needs --run, the run's name for control commands" in done.stderr
