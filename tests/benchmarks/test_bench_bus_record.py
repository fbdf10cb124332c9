"""Bus throughput and latency (collector -> consumer through a real redis-server), control
command latency (sent -> run stopped), recorder throughput and bytes per trade.

Figures go to ``benchmark.extra_info`` (docs/bus.md, docs/recording.md quote them); the
asserts check counts, never times.
"""

from __future__ import annotations

import statistics
import threading
import time

import backtrader as bt
import pytest

from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.bus import BusFeed, BusPublisher, add_control, send_command
from backtrader_channels.feeds import FeedThread
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.record.recorder import Recorder
from backtrader_channels.testing.redis_server import RedisServer

SYMBOL = "BTC/USDT"


@pytest.fixture(scope="module")
def redis_url():
    with RedisServer() as server:
        yield server.url


def ticks(n: int, t0: float = 1_767_000_000.0, recv: bool = False) -> list[Event]:
    out = []
    for i in range(n):
        t = t0 + i * 0.001
        data = TickEvent(t, 60_000.0 + (i % 200) * 0.01, 0.001 * (1 + i % 50), "buy" if i % 3 else "sell",
                         10_000_000 + i, SYMBOL, time.time() if recv else t)
        out.append(Event(t, EventPriority.TICK, "tick", SYMBOL, data))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bus_throughput(url: str, events: list[Event], group: str) -> dict:
    queue = LiveEventQueue(len(events) + 1)
    feed = BusFeed(url, "tick", SYMBOL, queue, group=group, batch=1000, ack="queued")
    publisher = BusPublisher(url)
    with FeedThread([feed]):
        time.sleep(0.2)
        started = time.perf_counter()
        for start in range(0, len(events), 1000):
            publisher.publish(events[start:start + 1000])
        published = time.perf_counter()
        received = 0
        while received < len(events):
            received += len(queue.pop_batch(100_000, timeout=5.0))
        done = time.perf_counter()
    return {"events": received, "publish_per_s": len(events) / (published - started),
            "end_to_end_per_s": len(events) / (done - started)}


@pytest.mark.benchmark(group="bus")
def test_bus_throughput(benchmark, redis_url):
    events = ticks(50_000)
    runs = iter(range(100))
    result = benchmark.pedantic(lambda: bus_throughput(redis_url, events, f"bench-{next(runs)}"), rounds=1)
    assert result["events"] == len(events)
    benchmark.extra_info.update(result)


def bus_latency(url: str, n: int, rate: float) -> dict:
    queue = LiveEventQueue()
    feed = BusFeed(url, "tick", SYMBOL, queue, group=f"latency-{time.time_ns()}", ack="queued")
    publisher = BusPublisher(url)
    latencies: list[float] = []
    with FeedThread([feed]):
        time.sleep(0.2)
        for i in range(n):
            event = ticks(1, recv=True)[0]
            event.data.trade_id = i
            publisher.publish([event])  # recv_timestamp = publish time: the collector's receive
            got = queue.pop(timeout=5.0)
            latencies.append(time.time() - got.data.recv_timestamp)
            time.sleep(1.0 / rate)
    return {"events": len(latencies), "p50_ms": 1e3 * percentile(latencies, 0.5),
            "p99_ms": 1e3 * percentile(latencies, 0.99)}


@pytest.mark.benchmark(group="bus")
def test_bus_latency(benchmark, redis_url):
    result = benchmark.pedantic(lambda: bus_latency(redis_url, 2_000, 1_000.0), rounds=1)
    assert result["events"] == 2_000
    benchmark.extra_info.update(result)


def stop_latency(url: str, run: str) -> float:
    queue = LiveEventQueue()
    queue.push(ticks(1)[0])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_live_feed(BusFeed(url, "tick", SYMBOL, queue, group=f"{run}-data"))
    add_control(cerebro, run, bus=url)
    cerebro.addstrategy(bt.Strategy)
    ended = []
    runner = threading.Thread(target=lambda: (cerebro.run(mode=bt.RunMode.TICK), ended.append(time.perf_counter())))
    runner.start()
    deadline = time.monotonic() + 10
    while not all(feed.running for feed in cerebro.__dict__.get("_bc_live_feeds", [])) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # idle: the run waits for data
    sent = time.perf_counter()
    send_command(url, run, "stop")
    runner.join(10)
    return ended[0] - sent


@pytest.mark.benchmark(group="control")
@pytest.mark.slow
def test_control_stop_latency(benchmark, redis_url):
    def measure() -> dict:
        latencies = [stop_latency(redis_url, f"stop-{time.time_ns()}") for _ in range(30)]
        return {"runs": len(latencies), "p50_ms": 1e3 * statistics.median(latencies),
                "p99_ms": 1e3 * percentile(latencies, 0.99), "max_ms": 1e3 * max(latencies)}

    result = benchmark.pedantic(measure, rounds=1)
    assert result["runs"] == 30
    benchmark.extra_info.update(result)


def recorder_throughput(out, events: list[Event]) -> dict:
    recorder = Recorder(out, flush_interval=1.0)
    started = time.perf_counter()
    for start in range(0, len(events), 1024):  # batches as the pump hands them over
        recorder.write(events[start:start + 1024])
        recorder.tick()
    recorder.close()
    elapsed = time.perf_counter() - started
    files = [p for p in out.rglob("*.parquet")]
    size = sum(p.stat().st_size for p in files)
    return {"trades": recorder.stats.trades, "trades_per_s": len(events) / elapsed,
            "bytes_per_trade": size / len(events), "part_files": recorder.stats.files,
            "part_bytes_per_trade": recorder.stats.bytes / len(events)}


@pytest.mark.benchmark(group="record")
@pytest.mark.slow
def test_recorder_throughput(benchmark, tmp_path):
    events = ticks(500_000)
    result = benchmark.pedantic(lambda: recorder_throughput(tmp_path / "rec", events), rounds=1)
    assert result["trades"] == len(events)
    benchmark.extra_info.update(result)
