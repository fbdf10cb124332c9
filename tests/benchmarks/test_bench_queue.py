"""Target 5: LiveEventQueue, push+pop on one thread (>= 1M/s; popped one by one and with
pop_batch) and producer thread -> consumer thread with pop_batch (>= 300k events/s)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import (
    queue_events,
    scenario_queue_one_thread,
    scenario_queue_threads,
)

from .benchmark_rounds import measure


@pytest.fixture(scope="module")
def events(sizes):
    return queue_events(sizes.queue_events)


@pytest.mark.benchmark(group="5-queue")
@pytest.mark.parametrize("batch", [False, True], ids=["pop", "pop_batch"])
def test_push_pop_one_thread(benchmark, events, sizes, batch):
    runs = measure(benchmark, lambda: scenario_queue_one_thread(events, batch=batch), sizes.rounds,
                   key="pairs_per_second")
    for run in runs:
        assert run.count == len(events)
        assert run.checks["dropped"] == 0


@pytest.mark.benchmark(group="5-queue")
def test_producer_thread_to_consumer_thread(benchmark, events, sizes):
    runs = measure(benchmark, lambda: scenario_queue_threads(events), sizes.rounds)
    for run in runs:
        assert run.count == len(events)
        assert run.checks["ordered"]
    benchmark.extra_info["high_water"] = runs[-1].checks["high_water"]
