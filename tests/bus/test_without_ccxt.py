"""The ``bus`` extra works without ccxt: publishing and consuming trades, with ccxt unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import sys


    class NoCcxt:
        def find_spec(self, name, path=None, target=None):
            if name == "ccxt" or name.startswith("ccxt."):
                raise ImportError("No module named 'ccxt' (blocked)")


    sys.meta_path.insert(0, NoCcxt())
    import time

    from backtrader_channels import Event, EventPriority, TickEvent
    from backtrader_channels.bus import BusFeed, BusPublisher
    from backtrader_channels.live import LiveEventQueue
    from backtrader_channels.live.runner import FeedThread

    url = sys.argv[1]
    sent = [TickEvent(1_767_000_000.0 + i, 60_000.0 + i, 0.01, "buy", 1 + i, "BTC/USDT") for i in range(50)]
    BusPublisher(url).publish(Event(t.timestamp, EventPriority.TICK, "tick", "BTC/USDT", t) for t in sent)
    queue = LiveEventQueue()
    feed = BusFeed(url, "tick", "BTC/USDT", queue, group="g", start="earliest", ack="queued")
    runner = FeedThread([feed]).start()
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 50 and time.monotonic() < deadline:
        got += [event.data.trade_id for event in queue.pop_batch(100, timeout=0.1)]
    runner.stop(5.0)
    print(len(got), got[0], got[-1], "ccxt" in sys.modules)
''')


def test_trades_go_over_the_bus_with_ccxt_not_importable(redis_server):
    done = subprocess.run([sys.executable, "-c", SCRIPT, redis_server.url], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["50", "1", "50", "False"]
