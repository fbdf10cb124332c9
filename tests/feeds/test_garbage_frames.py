"""Frames that are valid JSON but no message at all are counted as bad, not silently ignored."""

from __future__ import annotations

import pytest

from tests.phase4.test_ccxt_feed import (  # noqa: F401
    SYMBOL,
    assert_no_more,
    collect,
    server,
    start_feed,
    trade_ids,
)


@pytest.mark.parametrize("frames", [["[]", "null", "{}", "[]"], ['""', "0"]], ids=["empty", "scalars"])
def test_empty_and_scalar_frames_are_counted_as_bad_messages(server, start_feed, frames):  # noqa: F811
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 2)
    for frame in frames:
        server.send_raw(server.trade_stream(SYMBOL), frame)
    server.send_trades(SYMBOL, 2)
    assert trade_ids(collect(queue, 4)) == [1, 2, 3, 4]
    stats = feed.stats
    assert (stats.bad_messages, stats.messages, stats.trades) == (len(frames), 4 + len(frames), 4)
    assert (stats.reconnects, stats.watchdog_restarts) == (0, 0)
    assert_no_more(queue)
