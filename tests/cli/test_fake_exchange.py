"""``btchannels fake-exchange``: a local exchange that ``btchannels live`` runs against."""

from __future__ import annotations

import json
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

STRATEGY = '''
import backtrader as bt


class BuyOnSecondTrade(bt.Strategy):
    def __init__(self):
        self.books = 0

    def notify_orderbook(self, book):
        self.books += 1

    def notify_tick(self, tick):
        if len(self.channels[("tick", "BTC/USDT")]) == 2:
            self.buy(size=0.1)

    def stop(self):
        print(f"book updates seen {self.books}")
'''

CLI = [sys.executable, "-m", "backtrader_channels.cli"]


BUY_ONCE = '''
import backtrader as bt


class BuyOnce(bt.Strategy):
    def notify_tick(self, tick):
        if not getattr(self, "sent", False):
            self.sent = True
            self.buy(size=0.01)

    def notify_order(self, order):
        print("order", order.getstatusname(), order.executed.size, order.executed.price)
'''


def serve(*options: str):
    """Start ``btchannels fake-exchange`` with ``options``; yield (process, banner); kill it after."""
    process = subprocess.Popen([*CLI, "fake-exchange", "--port", "0", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    banner = []
    try:
        for line in process.stdout:  # the banner ends with how to stop it
            banner.append(line)
            if line.startswith("Ctrl-C"):
                break
        assert banner and banner[-1].startswith("Ctrl-C"), "".join(banner) + process.stderr.read()
        yield process, "".join(banner)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def fake_exchange():
    yield from serve("--trade-rate", "50", "--book-rate", "20")


@pytest.fixture
def trading_exchange():
    yield from serve("--trading", "--trade-rate", "50", "--book-rate", "20", "--balance", "USDT=20000")


def summary_rows(stdout: str) -> dict[str, str]:
    """The live run's summary table: label -> value."""
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in stdout.splitlines()
                if re.search(r"\S\s{2,}\S", line))


@pytest.mark.slow
def test_live_runs_against_the_fake_exchange_with_the_printed_command(fake_exchange, tmp_path):
    process, banner = fake_exchange
    command = next(line.strip() for line in banner.splitlines() if line.strip().startswith("btchannels live"))
    assert re.search(r"--rest-url http://127\.0\.0\.1:\d+ --ws-url ws://127\.0\.0\.1:\d+/ws$", command)
    strategy = tmp_path / "my_strategy.py"
    strategy.write_text(STRATEGY)
    argv = shlex.split(command)[2:]  # after "btchannels live"
    live = subprocess.run([*CLI, "live", *argv, "--duration", "4"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert live.returncode == 0, live.stderr
    rows = summary_rows(live.stdout)
    assert rows["fills"] == "1"  # the buy on the second trade, filled live by the paper broker
    assert int(rows["events"].replace(",", "")) > 20  # trades and book updates flowed
    books_seen = int(re.search(r"book updates seen (\d+)", live.stdout).group(1))
    assert books_seen > 0

    process.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    sent = int(re.search(r"stopped: ([\d,]+) trades sent", out).group(1).replace(",", ""))
    assert sent >= 20


def test_fake_exchange_stops_on_sigterm(fake_exchange):
    process, banner = fake_exchange
    assert "Ctrl-C stops it" in banner
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "stopped: 0 trades sent" in out  # nobody subscribed: nothing generated


def test_fake_exchange_refuses_a_port_in_use(fake_exchange):
    process, banner = fake_exchange
    port = re.search(r"http://127\.0\.0\.1:(\d+)", banner).group(1)
    second = subprocess.run([*CLI, "fake-exchange", "--port", port], capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1 port {port}" in second.stderr
    assert "Traceback" not in second.stderr


def test_live_with_the_ccxt_broker_trades_at_the_fake_exchanges_account(trading_exchange, tmp_path):
    process, banner = trading_exchange
    command = next(line.strip() for line in banner.splitlines() if line.strip().startswith("btchannels live"))
    keys = Path(re.search(r"--keys (\S+)", command).group(1))
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert json.loads(keys.read_text()).keys() == {"apiKey", "secret"}
    assert "USDT 20,000" in banner
    (tmp_path / "my_strategy.py").write_text(BUY_ONCE)
    live = subprocess.run([*CLI, "live", *shlex.split(command)[2:], "--duration", "4"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert live.returncode == 0, live.stderr
    statuses = re.findall(r"^order (\w+) ([\d.]+) ([\d.]+)$", live.stdout, re.MULTILINE)
    assert [status for status, _, _ in statuses] == ["Submitted", "Accepted", "Completed"]
    rows = summary_rows(live.stdout)
    assert rows["orders"] == "1 sent, 1 accepted, 1 completed, 0 cancelled, 0 rejected, 0 adopted, 0 resumed"
    assert rows["broker"].startswith("binance sandbox")

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "account: 1 orders, 1 fills" in out  # the exchange's own ledger
    fill = re.search(r"fill BUY 0\.01 BTCUSDT at ([\d.]+), fee ([\d.]+) USDT", out)
    _, size, price = statuses[-1]
    assert (float(size), float(price)) == (0.01, float(fill.group(1)))  # the fill the strategy was told of
    assert float(fill.group(2)) == pytest.approx(0.01 * float(price) * 0.001, abs=1e-8)
    assert not keys.exists()  # a temporary keys file goes with the server


def test_balance_and_keys_need_trading(tmp_path):
    refused = subprocess.run([*CLI, "fake-exchange", "--port", "0", "--balance", "USDT=5"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr == "btchannels: --balance and --keys: go with --trading\n"
