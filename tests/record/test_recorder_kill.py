"""`btchannels record` against the local Binance (real ccxt.pro), killed with SIGKILL mid-stream."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from backtrader_channels.sources import open_book, open_trades
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"
FLUSH = 0.2


def start_recorder(server: FakeBinance, out: Path, subscriptions: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "backtrader_channels.cli", "record", "--symbol", SYMBOL, "--trades", "--book",
         "--out", str(out), "--flush-interval", str(FLUSH), "--rest-url", server.http_url, "--ws-url", server.ws_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    server.wait_subscriptions(server.trade_stream(SYMBOL), subscriptions, timeout=30)
    server.wait_subscriptions(server.depth_stream(SYMBOL), subscriptions, timeout=30)
    return process


def stream_market(server: FakeBinance, stop: threading.Event) -> threading.Thread:
    def send():
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # nobody subscribed for a moment (the kill)
                server.send_trades(SYMBOL, 20, rate=400, timeout=0.5)
                server.send_depth_updates(SYMBOL, 2, rate=100, timeout=0.5)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def every_file_is_readable(out: Path) -> None:
    files = [p for p in out.rglob("*.parquet") if not p.name.startswith(".")]
    assert files
    for file in files:
        pq.read_table(file)  # raises on a half-written file


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_at_most_the_flush_interval(tmp_path):
    out = tmp_path / "rec"
    rng = random.Random(11)
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        stop = threading.Event()
        sender = None
        for run in range(1, 4):
            recorder = start_recorder(server, out, run)
            started_at = time.time()
            sender = sender or stream_market(server, stop)
            time.sleep(1.0 + rng.random())
            killed_at = time.time()
            recorder.send_signal(signal.SIGKILL)
            recorder.communicate(timeout=10)  # reaps it and closes its pipes
            every_file_is_readable(out)
            recorded = [int(i) for c in open_trades(out, symbol=SYMBOL).chunks() for i in c.trade_id]
            # trades sent while this recorder lived: all but the last flush interval is on disk
            sent_before = [t["t"] for t in server.trades[SYMBOL]
                           if started_at < server.sent_at[t["t"]] < killed_at - FLUSH - 0.5]
            assert len(sent_before) >= 50
            assert set(sent_before) <= set(recorded)
            assert recorded == sorted(set(recorded))  # in order, no repeats
        recorder = start_recorder(server, out, 4)
        time.sleep(1.0)
        recorder.send_signal(signal.SIGTERM)
        stdout, stderr = recorder.communicate(timeout=20)
        stop.set()
        sender.join(10)
    assert recorder.returncode == 0, stderr
    assert "recorded" in stdout
    symbol_dir = out / "BTCUSDT"
    assert not [p for p in symbol_dir.rglob("*") if p.is_dir() and p.parent.name in ("trades", "book")]  # merged
    trades = open_trades(out, symbol=SYMBOL)
    sent = {t["t"]: float(t["p"]) for t in server.trades[SYMBOL]}
    for chunk in trades.chunks():
        assert all(sent[int(i)] == p for i, p in zip(chunk.trade_id, chunk.price))  # what the server sent
    assert [g["kind"] for g in trades.gaps].count("recorder_restart") == 3
    book = open_book(symbol_dir)
    first = next(book.chunks())
    assert bool(first.is_snapshot[0])  # a book recording starts with a snapshot
