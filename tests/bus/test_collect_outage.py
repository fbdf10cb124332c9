"""`btchannels collect` (a real subprocess, real ccxt.pro against the local Binance) when Redis is
not there: it stops on time (--duration, SIGTERM), buffers what arrives while Redis is away,
publishes it when Redis is back, and counts what did not fit."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

from backtrader_channels.bus.codec import decode
from backtrader_channels.bus.streams import market_stream
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"
STREAM = market_stream("tick", SYMBOL)


def closed_port() -> int:
    """A port of 127.0.0.1 nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_collector(server: FakeBinance, url: str, *options: str) -> tuple[subprocess.Popen, float]:
    """The collector process, and the moment it had subscribed to the trades (it is running)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "backtrader_channels.cli", "collect", "--bus", url, "--symbol", SYMBOL, "--trades",
         "--rest-url", server.http_url, "--ws-url", server.ws_url, *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    server.wait_subscriptions(server.trade_stream(SYMBOL), 1, timeout=30)
    return process, time.monotonic()


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str, float]:
    """Wait up to ``timeout`` s for the process to exit (killed after that): stdout, stderr, when."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the collector was still running {timeout} s later:\n{err[-3000:]}")
    return out, err, time.monotonic()


def stream_trade_ids(url: str) -> list[int]:
    connection = redis.Redis.from_url(url)
    try:
        return [decode(fields[b"d"]).trade_id for _, fields in connection.xrange(STREAM)]
    finally:
        connection.close()


def wait_for_entries(url: str, count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while len(stream_trade_ids(url)) < count:
        assert time.monotonic() < deadline, f"the stream did not reach {count} entries"
        time.sleep(0.05)


@pytest.mark.parametrize("stop", ["duration", "sigterm"])
def test_redis_unreachable_from_the_start_stops_on_time_with_one_line(stop):
    url = f"redis://127.0.0.1:{closed_port()}"
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        process, running = start_collector(server, url, *(["--duration", "3"] if stop == "duration" else []))
        server.send_trades(SYMBOL, 25, rate=100)
        if stop == "sigterm":
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            out, err, ended = finish(process, 10)
            assert ended - signalled < 2.0
        else:
            out, err, ended = finish(process, 15)
            assert ended - running < 3 + 2.0
    assert process.returncode == 2
    assert out == "" and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"btchannels: collect: {url}: Redis never answered (Error 111 connecting to 127.0.0.1:{url.rsplit(':', 1)[1]}. "
        "Connection refused.); 25 events dropped (bus_down)")


@pytest.mark.parametrize("buffer", [None, 30])
def test_redis_killed_mid_run_gets_what_arrived_meanwhile_when_it_is_back(redis_server, buffer):
    """50 trades published; Redis killed -9; 50 more arrive; Redis back, empty: those 50 (or the
    30 the buffer holds, 20 dropped and counted) are published, then 20 more; SIGTERM."""
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        options = [] if buffer is None else ["--buffer", str(buffer)]
        process, _ = start_collector(server, redis_server.url, *options)
        try:
            sent = server.send_trades(SYMBOL, 50, rate=200)
            wait_for_entries(redis_server.url, 50)
            redis_server.kill()
            sent += server.send_trades(SYMBOL, 50, rate=200)
            time.sleep(0.3)  # the collector has them all, and tried Redis
            redis_server.start()  # on the same port, without the data
            kept = 50 if buffer is None else buffer
            wait_for_entries(redis_server.url, kept)
            sent += server.send_trades(SYMBOL, 20, rate=200)
            wait_for_entries(redis_server.url, kept + 20)
        finally:
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            out, err, ended = finish(process, 10)
    assert ended - signalled < 2.0
    assert process.returncode == 0, err
    assert stream_trade_ids(redis_server.url) == sent[50:50 + kept] + sent[100:]  # each once, in order
    reconnects = out.split("(", 1)[1].split(" ", 1)[0]
    assert int(reconnects) >= 1
    dropped = ", none dropped" if buffer is None else ", 20 dropped (bus_down: 20)"
    assert out == f"published {50 + kept + 20} events ({reconnects} reconnects to Redis){dropped}\n"
