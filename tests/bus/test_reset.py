"""Redis restarted while a consumer was down: without persistence what it had not read is counted
as lost_in_reset (not as trimmed, not as missed), with AOF nothing is lost. A real redis-server,
``kill -9``, and a consumer process frozen with SIGSTOP meanwhile (its memory intact)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from backtrader_channels import Event, EventPriority, OrderBookEvent
from backtrader_channels.bus import BusPublisher
from backtrader_channels.testing.redis_server import RedisServer

from .test_bus_feed import SYMBOL, T0, tick
from .test_consumer_kill import lines, wait_until

CONSUMER = """
import json, signal, sys, threading
from backtrader_channels.bus import BusFeed
from backtrader_channels.feeds import FeedThread
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.live.backoff import Backoff

class Logged(LiveEventQueue):  # what reached the queue, one trade (or book update) id a line
    def __init__(self, path):
        super().__init__(100_000)
        self.out = open(path, "a")

    def push(self, event):
        data = event.data
        self.out.write(f"{data.trade_id if kind == 'tick' else data.update_id}\\n")
        self.out.flush()
        return super().push(event)

url, kind, log, stats_path = sys.argv[1:5]
feed = BusFeed(url, kind, "BTC/USDT", Logged(log), group="reset", start="earliest", ack="queued",
               backoff=Backoff(0.05, 0.5))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
with FeedThread([feed]):
    while not stop.wait(0.05):
        pass
stats = feed.stats
with open(stats_path, "w") as out:
    json.dump({name: getattr(stats, name) for name in (
        "trades", "books", "lost_in_reset", "trimmed", "missed_trades", "duplicates", "resets", "bad_messages")}, out)
"""

FIRST, WHILE_DOWN, AFTER = 1_000, 750, 500  # trades: read; published while the consumer is frozen; after the restart
EXTRA = 250  # with ``snapshot``: trades the consumer takes after Redis saved the snapshot


def run_through_a_restart(server: RedisServer, tmp_path: Path, *, maxlen_after: int | None = None,
                          snapshot: bool = False, restart: bool = True, kind: str = "tick") -> tuple[list[int], dict]:
    """Publish FIRST trades (the consumer takes them), freeze the consumer, publish WHILE_DOWN,
    kill -9 Redis and start it again, publish AFTER, let the consumer go on until it has the
    last trade: the ids it took and its stats. ``snapshot``: Redis saves an RDB snapshot after
    FIRST (and restarts from it), then EXTRA more trades are published and taken. Without
    ``restart`` Redis runs on: only its retention (``maxlen_after``) takes anything away.
    ``kind='orderbook'``: book updates instead of trades (ids: update ids)."""
    script, log, stats_path = tmp_path / "consumer.py", tmp_path / "ids.log", tmp_path / "stats.json"
    script.write_text(CONSUMER)
    before = FIRST + (EXTRA if snapshot else 0)  # taken before the freeze
    event = tick if kind == "tick" else book
    sent = [event(i) for i in range(before + WHILE_DOWN + AFTER)]
    publisher = BusPublisher(server.url)
    consumer = subprocess.Popen([sys.executable, str(script), server.url, kind, str(log), str(stats_path)])
    try:
        publisher.publish(sent[:FIRST])
        wait_until(lambda: len(lines(log)) == FIRST)
        time.sleep(0.3)  # its acknowledgements are in
        if snapshot:
            connection = redis.Redis.from_url(server.url)
            connection.save()  # dump.rdb, loaded by the next start
            connection.close()
            publisher.publish(sent[FIRST:before])
            wait_until(lambda: len(lines(log)) == before)
            time.sleep(0.3)
        consumer.send_signal(signal.SIGSTOP)
        wait_until(lambda: stopped(consumer.pid))  # not one more read
        publisher.publish(sent[before:before + WHILE_DOWN])
        if restart:
            server.kill()
            server.start()
        publisher.maxlen = maxlen_after
        publisher.publish(sent[before + WHILE_DOWN:])
        consumer.send_signal(signal.SIGCONT)
        wait_until(lambda: (lines(log) or [0])[-1] == 1_000 + len(sent) - 1)
    finally:
        consumer.send_signal(signal.SIGCONT)
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(20)
    publisher.close()
    return lines(log), json.loads(stats_path.read_text())


def book(i: int) -> Event:
    """Book update ``i`` (update id 1000 + i, like ``tick(i)``'s trade id)."""
    data = OrderBookEvent(T0 + i * 0.001, [(100.0, 1.0)], [(101.0, 1.0)], "snapshot", SYMBOL, 1_000 + i,
                          T0 + i * 0.001 + 0.0005)
    return Event(data.timestamp, EventPriority.ORDERBOOK, "orderbook", SYMBOL, data)


def stopped(pid: int) -> bool:
    """The process is stopped (its state in /proc is ``T``)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def ids(first: int, count: int) -> list[int]:
    return list(range(1_000 + first, 1_000 + first + count))  # tick(i) has trade id 1000 + i


def handed_before_the_freeze(taken: list[int], before: int = FIRST) -> int:
    """WHILE_DOWN trades the consumer got all the same: its read, blocked when it froze, was
    answered by Redis with the first of them (into its socket; it reads them when it thaws)."""
    return sum(1 for trade_id in taken if trade_id in ids(before, WHILE_DOWN))


def test_a_restart_without_persistence_counts_the_trades_the_consumer_never_saw(redis_server, tmp_path):
    taken, stats = run_through_a_restart(redis_server, tmp_path)
    handed = handed_before_the_freeze(taken)
    assert handed <= 10
    # the other WHILE_DOWN trades were only in the stream Redis lost
    assert taken == ids(0, FIRST + handed) + ids(FIRST + WHILE_DOWN, AFTER)  # each once, in order
    assert stats == {"trades": FIRST + handed + AFTER, "books": 0, "lost_in_reset": WHILE_DOWN - handed, "trimmed": 0,
                     "missed_trades": 0, "duplicates": 0, "resets": 1, "bad_messages": 0}


def test_what_the_new_stream_trimmed_is_told_apart_from_what_the_reset_lost(redis_server, tmp_path):
    taken, stats = run_through_a_restart(redis_server, tmp_path, maxlen_after=100)
    handed = handed_before_the_freeze(taken)
    kept = len(taken) - FIRST - handed  # the newest trades the new stream still held
    assert 100 <= kept < AFTER
    assert taken == ids(0, FIRST + handed) + ids(FIRST + WHILE_DOWN + AFTER - kept, kept)
    assert (stats["lost_in_reset"], stats["trimmed"], stats["missed_trades"]) == (WHILE_DOWN - handed, AFTER - kept, 0)
    assert stats["resets"] == 1


def test_with_an_append_only_file_fsynced_always_nothing_is_lost(durable_redis_server, tmp_path):
    taken, stats = run_through_a_restart(durable_redis_server, tmp_path)
    assert taken == ids(0, FIRST + WHILE_DOWN + AFTER)
    assert stats == {"trades": FIRST + WHILE_DOWN + AFTER, "books": 0, "lost_in_reset": 0, "trimmed": 0, "missed_trades": 0,
                     "duplicates": 0, "resets": 0, "bad_messages": 0}


def test_a_restart_from_an_older_snapshot_counts_what_came_after_it(redis_server, tmp_path):
    """Redis comes back with the stream and the group as they were FIRST trades in: the
    group's last id is below what the consumer took. It has the EXTRA trades already; the
    WHILE_DOWN ones are lost."""
    taken, stats = run_through_a_restart(redis_server, tmp_path, snapshot=True)
    before = FIRST + EXTRA
    handed = handed_before_the_freeze(taken, before)
    assert taken == ids(0, before + handed) + ids(before + WHILE_DOWN, AFTER)
    assert stats == {"trades": before + handed + AFTER, "books": 0, "lost_in_reset": WHILE_DOWN - handed, "trimmed": 0,
                     "missed_trades": 0, "duplicates": 0, "resets": 1, "bad_messages": 0}


def test_trades_the_retention_trimmed_are_trimmed_not_also_missed(redis_server, tmp_path):
    taken, stats = run_through_a_restart(redis_server, tmp_path, maxlen_after=100, restart=False)
    handed = handed_before_the_freeze(taken)
    kept = len(taken) - FIRST - handed
    assert 100 <= kept < AFTER
    assert taken == ids(0, FIRST + handed) + ids(FIRST + WHILE_DOWN + AFTER - kept, kept)
    assert stats == {"trades": FIRST + handed + kept, "books": 0, "lost_in_reset": 0, "trimmed": WHILE_DOWN - handed + AFTER - kept,
                     "missed_trades": 0, "duplicates": 0, "resets": 0, "bad_messages": 0}


def test_a_book_stream_counts_the_reset_by_the_collector_s_entry_numbers(redis_server, tmp_path):
    taken, stats = run_through_a_restart(redis_server, tmp_path, kind="orderbook")
    handed = handed_before_the_freeze(taken)
    assert taken == ids(0, FIRST + handed) + ids(FIRST + WHILE_DOWN, AFTER)
    assert stats == {"trades": 0, "books": FIRST + handed + AFTER, "lost_in_reset": WHILE_DOWN - handed, "trimmed": 0,
                     "missed_trades": 0, "duplicates": 0, "resets": 1, "bad_messages": 0}
