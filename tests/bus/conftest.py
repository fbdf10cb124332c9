"""A real redis-server per test, on a free port of 127.0.0.1 (missing binary: a clear failure)."""

from __future__ import annotations

import pytest

from backtrader_channels.testing.redis_server import RedisServer


@pytest.fixture
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture
def durable_redis_server():
    """Redis with an append-only file (fsync always): its data survives ``restart()``."""
    with RedisServer(appendonly=True) as server:
        yield server
