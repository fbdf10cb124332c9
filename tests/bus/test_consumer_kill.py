"""A consumer process killed with SIGKILL mid-stream, restarted: it resumes where it was."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from backtrader_channels.bus import BusPublisher

from .test_bus_feed import tick

CONSUMER = """
import sys, time
from backtrader_channels.bus import BusFeed
from backtrader_channels.feeds import FeedThread
from backtrader_channels.live import LiveEventQueue

class Logged(LiveEventQueue):  # what reached the queue; acknowledged there (ack="queued")
    def __init__(self, path):
        super().__init__(100_000)
        self.out = open(path, "a")

    def push(self, event):
        self.out.write(f"{event.data.trade_id}\\n")
        self.out.flush()
        return super().push(event)

url, log = sys.argv[1:3]
feed = BusFeed(url, "tick", "BTC/USDT", Logged(log), group="killed", start="earliest", batch=50, ack="queued")
with FeedThread([feed]):
    while True:
        time.sleep(0.05)
"""


def lines(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_kill_9_the_consumer_and_restart_it(redis_server, tmp_path):
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER)
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    sent = [tick(i) for i in range(3_000)]
    publisher = BusPublisher(redis_server.url)

    def publish():
        for start in range(0, len(sent), 50):
            publisher.publish(sent[start:start + 50])
            time.sleep(0.004)

    consumer = subprocess.Popen([sys.executable, str(script), redis_server.url, str(first)])
    sender = threading.Thread(target=publish)
    sender.start()
    wait_until(lambda: len(lines(first)) >= 600)
    consumer.send_signal(signal.SIGKILL)
    consumer.wait(10)
    taken = lines(first)
    time.sleep(0.3)  # more is published while no consumer runs
    consumer = subprocess.Popen([sys.executable, str(script), redis_server.url, str(second)])
    try:
        sender.join()
        wait_until(lambda: (lines(second) or [0])[-1] == sent[-1].data.trade_id)
    finally:
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(10)
    resumed = lines(second)
    ids = [event.data.trade_id for event in sent]
    assert 600 <= len(taken) < len(ids)
    assert sorted(set(taken) | set(resumed)) == ids  # nothing missed
    assert len(resumed) == len(set(resumed))  # the restarted consumer got each entry once
    assert resumed == sorted(resumed)  # in order
    # repeats across the kill: only entries taken but not yet acknowledged (one read, <= batch)
    repeated = set(taken) & set(resumed)
    assert len(repeated) <= 50
    assert resumed[:len(repeated)] == sorted(repeated)  # redelivered first, then the rest
