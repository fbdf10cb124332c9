"""The test server helper: a missing redis-server is a clear failure with the install hint."""

from __future__ import annotations

import pytest

from backtrader_channels.testing.redis_server import RedisServer, redis_server_binary


def test_missing_redis_server_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without redis-server
    with pytest.raises(RuntimeError, match=r"redis-server not found: install it \(Debian: apt-get install redis-server\)"):
        redis_server_binary()
    with pytest.raises(RuntimeError, match="redis-server not found"):
        RedisServer()


def test_restart_keeps_data_only_with_appendonly():
    import redis

    for appendonly, kept in ((True, b"1"), (False, None)):
        with RedisServer(appendonly=appendonly) as server:
            client = redis.Redis.from_url(server.url)
            client.set("k", 1)
            server.restart()
            assert client.get("k") == kept
            client.close()
