"""Benchmark fixtures: sizes from BTCHANNELS_BENCH_SIZE, inputs generated once per session.

Set ``BTCHANNELS_BENCH_DIR`` to keep the generated inputs between sessions (the full
sizes take minutes to write). Each benchmark records its measured figures in
``benchmark.extra_info``; under ``--benchmark-disable`` (the default run) each scenario
runs once and its checks are still asserted.
"""

from __future__ import annotations

import os

import pytest

from backtrader_channels.bench import Inputs, Sizes, sizes_from_env

BENCH_DIR_ENV = "BTCHANNELS_BENCH_DIR"


@pytest.fixture(scope="session")
def sizes() -> Sizes:
    return sizes_from_env()


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    kept = os.environ.get(BENCH_DIR_ENV)
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # make test's processes: each writes its own files
    if kept:
        return Inputs(os.path.join(kept, worker) if worker else kept)
    return Inputs(tmp_path_factory.mktemp("bench-inputs"))
