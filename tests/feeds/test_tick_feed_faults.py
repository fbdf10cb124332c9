"""The trade feed against id jumps, id restarts, out-of-order ids, future-stamped trades and
frames with no message in them.

Real ccxt.pro client, local FakeBinance on 127.0.0.1: the faults are in what the server sends.
"""

from __future__ import annotations

import json
import time

import pytest

from backtrader_channels.live import LiveDataValidator, LiveEventQueue
from tests.phase4.test_ccxt_feed import (  # noqa: F401
    SYMBOL,
    assert_no_more,
    collect,
    server,
    start_feed,
    trade_ids,
    wait_for,
)

YEAR = 365 * 24 * 3600.0


def test_a_server_restart_with_ids_from_1_again_is_a_new_epoch_not_20_duplicates(server, start_feed):  # noqa: F811
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 30)
    server.drop_connections()
    server.send_trades(SYMBOL, 20, first_id=1)  # the restarted exchange counts from 1
    assert trade_ids(collect(queue, 50)) == list(range(1, 31)) + list(range(1, 21))
    stats = feed.stats
    assert (stats.trades, stats.duplicates, stats.missed_trades, stats.id_epochs) == (50, 0, 0, 1)
    assert_no_more(queue)


def test_one_implausible_id_does_not_silence_the_feed(server, start_feed):  # noqa: F811
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 33)
    server.send_trades(SYMBOL, 1, first_id=10**12)
    server.send_trades(SYMBOL, 5, first_id=34)  # the real ids go on
    assert trade_ids(collect(queue, 39)) == [*range(1, 34), 10**12, *range(34, 39)]
    stats = feed.stats
    assert (stats.trades, stats.duplicates, stats.missed_trades, stats.id_epochs) == (39, 0, 0, 2)


def test_out_of_order_ids_are_neither_duplicates_nor_missed(server, start_feed):  # noqa: F811
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 29)
    for trade_id in (31, 30, 32):
        server.send_trades(SYMBOL, 1, first_id=trade_id)
    assert trade_ids(collect(queue, 32)) == [*range(1, 30), 31, 30, 32]
    stats = feed.stats
    assert (stats.trades, stats.duplicates, stats.missed_trades, stats.id_epochs) == (32, 0, 0, 0)


def test_a_replay_after_a_reconnect_is_still_dropped_as_duplicates(server, start_feed):  # noqa: F811
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 25, drop_after=10, replay=3)
    assert trade_ids(collect(queue, 25)) == list(range(1, 26))
    stats = feed.stats
    assert (stats.duplicates, stats.id_epochs) == (3, 0)


def test_a_future_stamped_trade_is_rejected_and_does_not_starve_the_channel(server, start_feed):  # noqa: F811
    validator = LiveDataValidator()
    feed, queue = start_feed(validator=validator)
    server.send_trades(SYMBOL, 1)
    server.send_trades(SYMBOL, 1, time_offset=YEAR)  # id 2, stamped a year ahead
    server.send_trades(SYMBOL, 29)
    assert trade_ids(collect(queue, 30)) == [1, *range(3, 32)]
    assert (feed.stats.trades, feed.stats.rejected) == (30, 1)
    assert validator.get_anomaly_report() == {("tick", SYMBOL): {"invalid_timestamp": 1, "invalid_data": 1}}
    assert_no_more(queue)


# frames that are valid JSON but no message at all are counted as bad, not silently ignored
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


FLOOD = 20_000


class StallingValidator(LiveDataValidator):
    """Holds the feed's thread 0.2 s every 2,000 trades, as a GC pause or a busy interpreter
    would: meanwhile the server goes on sending and ccxt gets the backlog in one go."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def validate(self, event):
        self.seen += 1
        if self.seen % 2_000 == 0:
            time.sleep(0.2)
        return super().validate(event)


def flood(server, start_feed, trades_limit=None):  # noqa: F811
    """Send FLOOD trades as fast as the server can to a feed whose thread stalls now and then;
    the feed's stats once every trade is accounted for."""
    options = {}
    if trades_limit is not None:
        config = server.ccxt_config()
        options["config"] = {**config, "options": {**config["options"], "tradesLimit": trades_limit}}
    feed, queue = start_feed(queue=LiveEventQueue(max_queue_size=FLOOD), validator=StallingValidator(), **options)
    assert server.send_trades(SYMBOL, FLOOD) == list(range(1, FLOOD + 1))
    wait_for(lambda: feed.stats.trades + feed.stats.overflowed_trades >= FLOOD, timeout=20)
    delivered = trade_ids(collect(queue, feed.stats.trades))
    assert delivered == sorted(set(delivered))  # each delivered once, in order
    return feed.stats


def test_a_flood_lost_in_ccxts_trade_cache_is_counted_as_overflowed_not_missed(server, start_feed):  # noqa: F811
    stats = flood(server, start_feed, trades_limit=1_000)  # ccxt's default
    assert stats.overflowed_trades > 0
    assert stats.overflowed_trades + stats.trades == FLOOD
    assert (stats.missed_trades, stats.duplicates, stats.bad_messages, stats.rejected) == (0, 0, 0, 0)


def test_a_flood_fits_the_feeds_trade_cache(server, start_feed):  # noqa: F811
    stats = flood(server, start_feed)
    assert (stats.trades, stats.overflowed_trades, stats.missed_trades) == (FLOOD, 0, 0)


# issue 20: a bad trade with a valid id was counted as a bad message and, its id never
# accepted, as a missed trade too. Prices "abc"/"NaN" make ccxt raise (the guard reports
# the raw frame); "0", "-5", "1e400" and sizes "0"/"-1" come out of ccxt as numbers.
@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [("p", "abc", "unparseable"), ("p", "NaN", "nan_or_inf"), ("p", "1e400", "nan_or_inf"), ("p", "0", "invalid_price"),
     ("p", "-5", "invalid_price"), ("q", "0", "invalid_volume"), ("q", "-1", "invalid_volume"), ("q", "", "unparseable")],
)
def test_a_bad_trade_with_a_readable_id_is_counted_once_even_when_replayed(server, start_feed, field, value, cause):  # noqa: F811
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 3)
    bad = {"e": "trade", "E": 1, "s": "BTCUSDT", "t": 4, "p": "50000.0", "q": "1.0", "T": 1, "m": True, "M": True}
    bad[field] = value
    for _ in range(2):  # the second: a replay of the same trade after a reconnect
        server.send_raw(server.trade_stream(SYMBOL), json.dumps(bad))
    server.skip_trades(SYMBOL, 1)  # id 4 was that trade
    server.send_trades(SYMBOL, 3)
    assert trade_ids(collect(queue, 6)) == [1, 2, 3, 5, 6, 7]
    stats = feed.stats
    assert (stats.bad_messages, stats.bad_by_cause, stats.duplicates, stats.missed_trades) == (1, {cause: 1}, 1, 0)
    assert stats.messages == 8
    assert_no_more(queue)
