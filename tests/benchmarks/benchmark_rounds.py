"""Running a scenario under pytest-benchmark and recording what it measured."""

from __future__ import annotations

from collections.abc import Callable

from backtrader_channels.bench import Measured, median_rate


def measure(benchmark, scenario: Callable[[], Measured], rounds: int, key: str = "events_per_second",
            **extra: object) -> list[Measured]:
    """Run ``scenario`` ``rounds`` times under pytest-benchmark; record the median rate as ``key``."""
    runs: list[Measured] = []

    def once() -> Measured:
        run = scenario()
        runs.append(run)
        return run

    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info[key] = median_rate(runs)
    benchmark.extra_info["count"] = runs[-1].count
    benchmark.extra_info.update(extra)
    return runs
