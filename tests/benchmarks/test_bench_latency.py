"""Live latency on loopback: FakeBinance's send time -> real ccxt.pro client -> queue ->
engine -> ``notify_tick``, at 1,000 and 5,000 trades/s (p99 < 20 ms at 5,000), with the fake
server in the test process (sharing its GIL) and in a process of its own (as an exchange is)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_latency

from .benchmark_rounds import measure

pytest.importorskip("aiohttp")  # FakeBinance's server


@pytest.mark.benchmark(group="live-latency")
@pytest.mark.parametrize("server_process", [False, True], ids=["server-in-process", "server-own-process"])
@pytest.mark.parametrize("rate", [1_000, 5_000])
def test_send_to_notify_tick_latency(benchmark, sizes, rate, server_process):
    runs = measure(benchmark, lambda: scenario_latency(rate, sizes.latency_seconds, server_process), 1,
                   key="trades_per_second")
    checks = runs[-1].checks
    assert checks["received"] == checks["sent"] == int(rate * sizes.latency_seconds)
    for name in ("p50_ms", "p99_ms", "max_ms"):
        benchmark.extra_info[name] = checks[name]
