"""Ctrl-C during a backlog: every event received is handled or counted; two Ctrl-Cs still end
with a summary. Real ``btchannels live`` process, real ccxt.pro client, local FakeBinance."""

from __future__ import annotations

import signal
import time

import pytest

from tests.engine.test_live_failures import live_process
from tests.phase4.test_live_run import SYMBOL, server  # noqa: F401

SLOW_STRATEGY = '''
import time

import backtrader as bt


class Slow(bt.Strategy):
    def notify_tick(self, tick):
        time.sleep(0.002)  # a strategy slower than the feed: a backlog builds up
'''


def summary_rows(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        label, _, value = line.partition("  ")
        rows[label.strip()] = value.strip()
    return rows


def count(value: str) -> int:
    return int(value.split()[0].replace(",", ""))


@pytest.mark.parametrize("interrupts", [1, 2], ids=["one-ctrl-c", "two-ctrl-c-50ms-apart"])
def test_ctrl_c_with_a_backlog_accounts_for_every_event(server, tmp_path, interrupts):  # noqa: F811
    process = live_process(tmp_path, SLOW_STRATEGY, "--symbol", SYMBOL,
                           "--rest-url", server.http_url, "--ws-url", server.ws_url)
    server.wait_subscriptions(server.trade_stream(SYMBOL), 1, timeout=30)
    server.send_trades(SYMBOL, 2000)  # at once: about 4 s of work for the strategy
    time.sleep(1.0)
    for _ in range(interrupts):
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    rows = summary_rows(out)
    assert rows["live run"].endswith("ended: interrupted")
    received, handled = count(rows["events received"]), count(rows["events"])
    rejected, left = count(rows["rejected by validator"]), count(rows["received, not handled at stop"])
    dropped, conflated = (int(n.replace(",", "")) for n in rows["queue dropped / conflated"].split(" / "))
    assert received == 2000
    assert 0 < left < 2000  # interrupted with a backlog
    assert handled + rejected + left + dropped + conflated == received
