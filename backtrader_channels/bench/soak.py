"""The soak test, ``btchannels bench --only soak``: every live part at once, with faults, for a stated time.

One process hosts, for ``--minutes``/``--hours``:

- the local exchange (``SoakExchange``, a FakeExchange) printing ``--trade-rate`` trades a
  second and ``--book-rate`` depth updates a second for one symbol;
- three pipelines, each its own real ccxt.pro clients (a trade feed and a book feed) on its
  own WebSocket path, so the exchange can tell what it wrote to whom:
  ``paper``, a live run of ``SoakTrader`` (limit orders placed and cancelled, a market order
  in and out now and then) with the CCXTBroker on the exchange's fake account (``--paper``:
  the simulated broker instead); ``recorder``, the Parquet recorder into a temporary
  directory; ``bus``, the collector publishing to a real ``redis-server`` and a ``BusFeed``
  consumer reading it back;
- a seeded fault every ``--fault-every`` seconds or so (``FAULT_KINDS``), through the
  exchange's own fault hooks.

After the faults stop the trades go on for the feeds to recover (``stale_timeout`` plus a
margin), then stop; once the pipelines are drained everything stops and the report says
what was measured and whether every count adds up (``Reconciliation``), per pipeline: each
trade id the exchange issued is delivered once or counted once under its cause (bad,
missed, rejected), and what the feed delivered is what the strategy saw, what the recorder
wrote and what the bus consumer read. A count that does not add up fails the run (exit 1)
and is named, with the likely cause when the numbers show one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np

import backtrader_channels  # noqa: F401  (tick mode, add_live_feed)

from ..events import Event, TickEvent
from ..live import LiveEventQueue
from ..testing import binance_ccxt_config
from ..testing.exchange import FakeExchange

__all__ = ["FAULT_KINDS", "SoakConfig", "SoakExchange", "SoakTrader", "config_from_args", "format_report", "main_soak",
           "run_soak", "soak_parser"]

SYMBOL = "BTC/USDT"
PIPELINES = ("paper", "recorder", "bus")
GARBAGE = '{"e": "trade",'  # a frame that is not JSON (cut short)
BAD_PRICE = "abc"  # send_bad_trade's price
MARKET_FAULTS = ("drop_abrupt", "drop_clean", "mute", "skip_ids", "garbage_frame", "bad_trade", "depth_gap")
TRADING_FAULTS = ("rest_429", "rest_timeout_create", "rest_timeout_cancel")
FAULT_KINDS = MARKET_FAULTS + TRADING_FAULTS


@dataclass
class SoakConfig:
    """What the soak runs: how long, how fast, how often a fault, and what it writes."""

    seconds: float = 600.0
    seed: int = 1
    trade_rate: float = 100.0  # trades a second: a busy BTC/USDT minute is 20-200
    book_rate: float = 10.0  # depth updates a second: Binance's @depth@100ms
    fault_every: float = 5.0  # seconds between faults, on average (each 0.5x to 1.5x of it)
    stale_timeout: float = 10.0  # the feeds' watchdog: at 100 trades/s, 10 s of silence is a dead feed
    sample_every: float = 30.0  # seconds between RSS and latency samples
    paper: bool = False  # the simulated broker instead of the CCXTBroker on the exchange's account
    json_path: Path | None = None


# --- the exchange ---------------------------------------------------------------------------


class SoakExchange(FakeExchange):
    """FakeExchange that counts, per pipeline (the first path segment after ``/ws/``), the
    trade-stream frames it wrote: good trades, bad trades, garbage frames.

    A frame counts once ``send_str`` returned (it is in the socket's buffer); an abrupt
    drop may still lose it in transit. ``forget_sent`` keeps memory flat over hours:
    FakeBinance keeps every payload for tests, here only their number.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: dict[str, Counter[str]] = {name: Counter() for name in PIPELINES}
        self.trades_forgotten: Counter[str] = Counter()  # per symbol, by forget_sent
        self._labels: dict[int, str] = {}

    def pipeline_config(self, label: str) -> dict[str, Any]:
        """ccxt config for pipeline ``label``: this exchange, on its own WebSocket path."""
        return {**self.ccxt_config(), "urls": binance_ccxt_config(self.http_url, f"{self.ws_url}/{label}")["urls"]}

    def good_trades(self, symbol: str) -> int:
        """Valid trades of ``symbol`` printed so far."""
        return self.trades_forgotten[symbol] + len(self.trades[symbol])

    def forget_sent(self) -> None:
        """Drop the payloads and send times kept so far (their number stays in ``good_trades``)."""
        def forget() -> None:
            for symbol, trades in self.trades.items():
                self.trades_forgotten[symbol] += len(trades)
                trades.clear()
            self.sent_at.clear()

        self._call(self._run(forget))

    def _opened(self, connection: Any, request: Any) -> None:
        super()._opened(connection, request)
        parts = request.path.split("/")
        self._labels[id(connection)] = parts[2] if len(parts) > 2 else ""

    async def _send_text(self, stream: str, text: str) -> None:
        trades = stream.endswith("@trade")
        kind = ("garbage" if text == GARBAGE else "bad_trades" if f'"p":"{BAD_PRICE}"' in text
                else "good_trades")
        for connection in list(self._connections):
            if connection.wants(stream) and not connection.ws.closed:
                with suppress(ConnectionError):
                    await connection.ws.send_str(text)
                    if trades:
                        self.written.setdefault(self._labels.get(id(connection), ""), Counter())[kind] += 1


# --- the strategy ---------------------------------------------------------------------------


class SoakTrader(bt.Strategy):
    """Counts what it is handed and trades now and then: every ``every`` trades the next of
    a limit buy 1% under the market (it rests), a cancel of what rests, a market buy, a
    market sell of the position. ``queue_waits`` are the last seconds from feed receive to
    ``notify_tick`` (the queue and the engine)."""

    params = (("every", 500), ("size", 0.001))

    def __init__(self) -> None:
        self.ticks = 0
        self.out_of_order = 0  # ticks whose id is not above the previous one
        self.last_id = -1
        self.queue_waits: deque[float] = deque(maxlen=20_000)
        self.statuses: Counter[str] = Counter()

    def notify_tick(self, tick: TickEvent) -> None:
        self.ticks += 1
        if tick.recv_timestamp is not None:
            self.queue_waits.append(time.time() - tick.recv_timestamp)
        if isinstance(tick.trade_id, int):
            self.out_of_order += tick.trade_id <= self.last_id
            self.last_id = max(self.last_id, tick.trade_id)
        if self.ticks % self.p.every == 0:
            self.act(self.ticks // self.p.every % 4, tick.price)

    def act(self, step: int, price: float) -> None:
        if step == 0:
            self.buy(size=self.p.size, price=round(price * 0.99, 2), exectype=bt.Order.Limit)
        elif step == 1:
            for order in self.broker.working_orders():
                self.cancel(order)
        elif step == 2:
            self.buy(size=self.p.size)
        elif self.position.size > 0:
            self.sell(size=self.position.size)

    def notify_order(self, order: bt.Order) -> None:
        self.statuses[order.getstatusname()] += 1


# --- measuring ------------------------------------------------------------------------------


def rss_mb() -> float:
    """This process's resident memory now (Linux ``VmRSS``), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return math.nan


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)


@dataclass
class Check:
    """One reconciliation: ``left`` should equal ``right``; ``note`` says why when not."""

    name: str
    left: int
    right: int
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.left == self.right


@dataclass
class Pipeline:
    """One pipeline's live parts: its ccxt feeds and the queue they push into."""

    name: str
    queue: LiveEventQueue
    feeds: list[Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trades_feed(self) -> Any:
        return self.feeds[0]


def _feeds(label: str, exchange: Any, queue: LiveEventQueue, config: SoakConfig) -> list[Any]:
    from ..feeds import CCXTLiveOrderBookFeed, CCXTLiveTickFeed

    options = {"config": exchange.pipeline_config(label), "stale_timeout": config.stale_timeout}
    return [CCXTLiveTickFeed("binance", SYMBOL, queue, **options),
            CCXTLiveOrderBookFeed("binance", SYMBOL, queue, depth=20, **options)]


# --- the run ----------------------------------------------------------------------------------


class Soak:
    """One soak run: ``run()`` returns the report (a dict, as written with ``--json``)."""

    def __init__(self, config: SoakConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda text: None)
        self.rng = random.Random(config.seed)
        self.faults: Counter[str] = Counter()
        self.samples: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.pipelines: dict[str, Pipeline] = {}
        self._faulting = threading.Event()  # set while faults are injected
        self._trading = threading.Event()  # set while trades are printed
        self._stop_all = threading.Event()
        self.issued_depth = 0
        self.load_start: list[float] = []

    # -- the threads ---------------------------------------------------------------------
    def _thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except Exception as error:  # reported, and the run fails
                self.errors.append(f"{name}: {type(error).__name__}: {error}")
                self._stop_all.set()

        thread = threading.Thread(target=guarded, name=f"soak-{name}", daemon=True)
        thread.start()
        return thread

    def _print_trades(self, exchange: Any) -> None:
        """``trade_rate`` trades a second, every 10 ms the ones now due, listeners or not."""
        rate, started, sent = self.config.trade_rate, time.monotonic(), 0
        while self._trading.is_set():
            due = int((time.monotonic() - started) * rate) - sent
            if due > 0:
                exchange.send_trades(SYMBOL, due, wait=False)
                sent += due
            time.sleep(0.01)

    def _print_depth(self, exchange: Any) -> None:
        period = 1.0 / self.config.book_rate
        while self._trading.is_set():
            with suppress(TimeoutError):  # every book feed is reconnecting: the next one
                exchange.send_depth_updates(SYMBOL, 1, timeout=2.0)
                self.issued_depth += 1
            time.sleep(period)

    def _inject_faults(self, exchange: Any) -> None:
        """A fault every ``fault_every`` seconds or so: each kind once per round, in a seeded
        random order, so a short run sees every kind too."""
        kinds = list(MARKET_FAULTS if self.config.paper else FAULT_KINDS)
        round_: list[str] = []
        while self._faulting.is_set():
            pause = self.config.fault_every * self.rng.uniform(0.5, 1.5)
            if self._stop_all.wait(pause) or not self._faulting.is_set():
                return
            if not round_:
                round_ = self.rng.sample(kinds, len(kinds))
            kind = round_.pop()
            self._fault(exchange, kind)
            self.faults[kind] += 1

    def _fault(self, exchange: Any, kind: str) -> None:
        if kind in ("drop_abrupt", "drop_clean"):
            exchange.drop_connections(abrupt=kind == "drop_abrupt")
        elif kind == "mute":
            exchange.mute()
        elif kind == "skip_ids":
            exchange.skip_trades(SYMBOL, self.rng.randint(1, 20))
        elif kind == "garbage_frame":
            with suppress(TimeoutError):  # nobody listens (all muted or reconnecting): it reaches no one
                exchange.send_raw(exchange.trade_stream(SYMBOL), GARBAGE, timeout=2.0)
        elif kind == "bad_trade":
            exchange.send_bad_trade(SYMBOL, BAD_PRICE)
        elif kind == "depth_gap":
            with suppress(TimeoutError):
                exchange.send_depth_updates(SYMBOL, 1, gap_at=0, timeout=2.0)
        elif kind == "rest_429":
            exchange.fail_next("rate_limit")
        elif kind == "rest_timeout_create":
            exchange.fail_next("timeout_after_accept")
        elif kind == "rest_timeout_cancel":
            exchange.stall_requests("DELETE", "/api/v3/order")

    def _sample(self, exchange: Any, started: float) -> None:
        while not self._stop_all.wait(self.config.sample_every):
            exchange.forget_sent()
            self.samples.append(self._snapshot(started))

    def _snapshot(self, started: float) -> dict[str, Any]:
        paper = self.pipelines["paper"].trades_feed.stats
        return {"t": round(time.monotonic() - started, 1), "rss_mb": round(rss_mb(), 1),
                "trades": paper.trades, "latency_p50_ms": _ms(paper.latency_p50),
                "latency_p99_ms": _ms(paper.latency_p99)}

    # -- the pipelines ---------------------------------------------------------------------
    def _paper_run(self, exchange: Any, runs: Path) -> bt.Cerebro:
        queue = LiveEventQueue()
        feeds = _feeds("paper", exchange, queue, self.config)
        self.pipelines["paper"] = Pipeline("paper", queue, feeds)
        cerebro = bt.Cerebro(stdstats=False)
        if self.config.paper:
            cerebro.broker.setcash(100_000.0)
            cerebro.broker.setcommission(commission=exchange.fee_rate)
        else:
            from ..broker.ccxt_broker import CCXTBroker

            broker_config = {**exchange.pipeline_config("broker"), "apiKey": exchange.api_key,
                             "secret": exchange.secret, "timeout": 1000}
            cerebro.setbroker(CCXTBroker("binance", broker_config, run_id="soak", run_dir=runs / "soak"))
        for feed in feeds:
            cerebro.add_live_feed(feed)
        cerebro.addstrategy(SoakTrader)
        return cerebro

    def _record(self, exchange: Any, out: Path) -> None:
        from ..record.pump import pump_feeds
        from ..record.recorder import FeedGaps, Recorder

        queue = LiveEventQueue(100_000)
        feeds = _feeds("recorder", exchange, queue, self.config)
        recorder = Recorder(out)
        self.pipelines["recorder"] = Pipeline("recorder", queue, feeds, {"recorder": recorder, "out": out})
        gaps = FeedGaps(feeds, recorder)

        def sink(events: list[Event]) -> None:
            gaps.check()
            recorder.write(events)

        try:
            pump_feeds(feeds, queue, sink, stop=self._stop_all, tick=recorder.tick)
        finally:
            recorder.close()

    def _collect(self, exchange: Any, url: str) -> None:
        from ..bus.publisher import BusPublisher
        from ..record.pump import pump_feeds

        queue = LiveEventQueue(100_000)
        feeds = _feeds("bus", exchange, queue, self.config)
        publisher = BusPublisher(url)
        published: Counter[str] = Counter()
        self.pipelines["bus"] = Pipeline("bus", queue, feeds, {"publisher": publisher, "published": published})

        def sink(events: list[Event]) -> None:
            publisher.publish(events)
            published.update(event.channel_type for event in events)

        try:
            pump_feeds(feeds, queue, sink, stop=self._stop_all)
        finally:
            publisher.close()

    def _consume(self, url: str, read: Counter[str], stop: threading.Event) -> list[Any]:
        """The bus consumer: a BusFeed per stream, its events counted as they are popped."""
        from ..bus import BusFeed
        from ..live.runner import FeedThread

        queue = LiveEventQueue(100_000)
        feeds = [BusFeed(url, kind, SYMBOL, queue, group="soak", start="earliest", ack="queued")
                 for kind in ("tick", "orderbook")]
        runner = FeedThread(feeds, name="soak-bus-consumer").start()
        last_id = -1

        def drain() -> None:
            nonlocal last_id
            while True:
                batch = queue.pop_batch(1024, timeout=0.1)
                for event in batch:
                    read[event.channel_type] += 1
                    trade_id = getattr(event.data, "trade_id", None)
                    if isinstance(trade_id, int):
                        read["out_of_order"] += trade_id <= last_id
                        last_id = max(last_id, trade_id)
                if not batch and stop.is_set():
                    return

        self._thread("bus-drain", drain)
        self.pipelines["bus"].extra.update(consumer=feeds, consumer_runner=runner)
        return feeds

    # -- the whole -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from ..testing.redis_server import RedisServer

        config = self.config
        started_at = datetime.now(timezone.utc)
        with ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="btchannels-soak-")))
            redis = stack.enter_context(RedisServer())
            exchange = stack.enter_context(SoakExchange([SYMBOL], seed=config.seed, price=50_000.0))
            rss_start = rss_mb()
            self.load_start = [round(x, 2) for x in os.getloadavg()]
            started = time.monotonic()
            cerebro = self._paper_run(exchange, root / "runs")
            threads = [self._thread("recorder", lambda: self._record(exchange, root / "recording")),
                       self._thread("collector", lambda: self._collect(exchange, redis.url))]
            consumer_read: Counter[str] = Counter()
            consumer_stop = threading.Event()
            controller = self._thread("controller", lambda: self._control(
                exchange, redis.url, consumer_read, consumer_stop, cerebro, started))
            self.progress(f"soak: {config.seconds:,.0f} s, {config.trade_rate:g} trades/s, {config.book_rate:g} "
                          f"depth updates/s, a fault every ~{config.fault_every:g} s, seed {config.seed}")
            (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
            self._stop_all.set()
            for thread in threads:
                thread.join(30.0)
            controller.join(60.0)
            consumer_stop.set()
            consumer = self.pipelines["bus"].extra.get("consumer_runner") if "bus" in self.pipelines else None
            if consumer is not None:
                consumer.stop(10.0)
            time.sleep(0.3)  # the drain's last pass
            self.samples.append(self._snapshot(started))
            elapsed = time.monotonic() - started
            report = self._report(exchange, cerebro, strategy, consumer_read, elapsed, rss_start, started_at)
        return report

    def _control(self, exchange: Any, url: str, consumer_read: Counter[str], consumer_stop: threading.Event,
                 cerebro: bt.Cerebro, started: float) -> None:
        """Wait for every pipeline to subscribe, print and fault for the stated time, settle, stop."""
        try:
            exchange.wait_subscriptions(exchange.trade_stream(SYMBOL), len(PIPELINES), timeout=60.0)
            exchange.wait_subscriptions(exchange.depth_stream(SYMBOL), len(PIPELINES), timeout=60.0)
            self._consume(url, consumer_read, consumer_stop)
            self._trading.set()
            self._faulting.set()
            workers = [self._thread("trades", lambda: self._print_trades(exchange)),
                       self._thread("depth", lambda: self._print_depth(exchange)),
                       self._thread("faults", lambda: self._inject_faults(exchange)),
                       self._thread("sampler", lambda: self._sample(exchange, started))]
            self._stop_all.wait(self.config.seconds)
            self._faulting.clear()
            self.progress(f"soak: faults stopped after {time.monotonic() - started:,.0f} s; settling")
            self._stop_all.wait(self.config.stale_timeout + 5.0)  # a mute just before: the watchdog's time
            self._trading.clear()
            for worker in workers[:3]:
                worker.join(30.0)
            self._drained()
        finally:
            self._stop_all.set()
            cerebro.runstop()

    def _drained(self, quiet: float = 2.0, limit: float = 30.0) -> None:
        """Wait until nothing moves: every feed's messages and the queues unchanged for ``quiet`` s."""
        def state() -> tuple[int, ...]:
            return tuple(feed._counters.messages for p in self.pipelines.values() for feed in p.feeds) + tuple(
                len(p.queue) for p in self.pipelines.values())

        deadline, last, since = time.monotonic() + limit, state(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.2)
            now = state()
            if now != last:
                last, since = now, time.monotonic()

    # -- the report ------------------------------------------------------------------------
    def _report(self, exchange: Any, cerebro: bt.Cerebro, strategy: SoakTrader, consumer_read: Counter[str],
                elapsed: float, rss_start: float, started_at: datetime) -> dict[str, Any]:
        issued = exchange._market(SYMBOL).next_trade_id - 1
        bad_trades = len(exchange.bad_trades.get(SYMBOL, []))
        good = exchange.good_trades(SYMBOL)
        server = {"trade_ids": issued, "good_trades": good, "bad_trades": bad_trades,
                  "skipped_ids": issued - good - bad_trades, "depth_updates": self.issued_depth,
                  "written": {name: dict(exchange.written.get(name, {})) for name in PIPELINES}}
        checks: list[Check] = []
        pipelines = {}
        for name, pipeline in self.pipelines.items():
            pipelines[name] = self._pipeline_report(pipeline, issued, exchange.written.get(name, Counter()), checks)
        if len(self.pipelines) < len(PIPELINES) or "consumer" not in self.pipelines["bus"].extra:
            checks.append(Check("pipelines started (see errors)", len(self.pipelines), len(PIPELINES)))
        else:
            checks += self._downstream(strategy, consumer_read)
            pipelines["paper"]["sink"] = {"strategy_ticks": strategy.ticks, "queue": asdict(self.pipelines["paper"].queue.stats)}
            pipelines["recorder"]["sink"] = asdict(self.pipelines["recorder"].extra["recorder"].stats)
            bus = self.pipelines["bus"].extra
            pipelines["bus"]["sink"] = {"published": dict(bus["published"]), "redis_reconnects": bus["publisher"].reconnects,
                                        "consumer_read": dict(consumer_read),
                                        "consumer_feeds": [self._stats(feed.stats) for feed in bus["consumer"]]}
        totals = {key: sum(p[feed][key] for p in pipelines.values() for feed in ("trades_feed", "book_feed"))
                  for key in ("messages", "trades", "books", "reconnects", "watchdog_restarts", "resyncs",
                              "bad_messages", "duplicates", "missed_trades")}
        paper = self.pipelines["paper"].trades_feed.stats
        waits = np.array(strategy.queue_waits) * 1e3
        rss = [sample["rss_mb"] for sample in self.samples]
        report: dict[str, Any] = {
            "started": started_at.isoformat(timespec="seconds"),
            "config": {**asdict(self.config), "json_path": str(self.config.json_path or "")},
            "duration_s": round(elapsed, 1),
            "totals": totals,
            "latency_ms": {"p50": _ms(paper.latency_p50), "p99": _ms(paper.latency_p99),
                           "worst_sampled_p99": max((s["latency_p99_ms"] for s in self.samples
                                                     if s["latency_p99_ms"] is not None), default=None),
                           "window": "the paper trade feed's last 10,000 trades"},
            "queue_wait_ms": {"p50": round(float(np.percentile(waits, 50)), 3) if len(waits) else None,
                              "p99": round(float(np.percentile(waits, 99)), 3) if len(waits) else None},
            "rss_mb": {"start": round(rss_start, 1), "end": rss[-1] if rss else None,
                       "max": max(rss) if rss else None},
            "rss_samples": [[s["t"], s["rss_mb"]] for s in self.samples],
            "samples": self.samples,
            "faults": dict(sorted(self.faults.items())),
            "server": server,
            "pipelines": pipelines,
            "strategy": {"ticks": strategy.ticks, "orders": dict(strategy.statuses)},
            "broker": dict(cerebro.broker.summary()),
            "exchange_ledger": {"orders": len(exchange.orders), "fills": len(exchange.my_trades),
                                "refused": len(exchange.refused), "unserved_rest_calls": len(exchange.requests)},
            "load_average": {"start": self.load_start, "end": [round(x, 2) for x in os.getloadavg()]},
            "errors": self.errors,
            "reconciliation": [{**asdict(check), "ok": check.ok} for check in checks],
        }
        if not self.config.paper:
            checks.append(Check("paper: fills the exchange made == fills the broker booked", len(exchange.my_trades),
                                len(cerebro.broker.exchange_fills)))
            report["reconciliation"].append({**asdict(checks[-1]), "ok": checks[-1].ok})
        report["reconciled"] = all(check.ok for check in checks) and not self.errors
        return report

    def _pipeline_report(self, pipeline: Pipeline, issued: int, written: Counter[str],
                         checks: list[Check]) -> dict[str, Any]:
        """The feeds' stats, and the trade ids accounted: each id once, under its cause."""
        trades, book = (feed.stats for feed in pipeline.feeds)
        garbage, bad_written = written["garbage"], written["bad_trades"]
        overflowed = trades.overflowed_trades  # lost in ccxt's trade cache
        accounted = trades.trades + trades.rejected + trades.bad_messages - garbage + trades.missed_trades + overflowed
        note = ""
        if accounted - issued == bad_written and bad_written:
            note = "each bad trade was counted twice: as a bad message and as a missed id"
        elif accounted > issued:
            note = f"{accounted - issued} ids counted under two causes"
        elif accounted < issued:
            note = f"{issued - accounted} ids neither delivered nor counted (lost at the end, or never noticed)"
        name = pipeline.name
        checks.append(Check(f"{name}: trade ids issued == delivered + rejected + bad trades + missed + overflowed",
                            issued, accounted, note))
        bad_note = "" if trades.bad_messages == garbage + bad_written else (
            "bad frames lost in transit at an abrupt drop, or counted twice")
        checks.append(Check(f"{name}: bad frames written to it == its bad messages", garbage + bad_written,
                            trades.bad_messages, bad_note))
        not_written = issued - written["good_trades"] - bad_written
        return {
            "trades_feed": self._stats(trades), "book_feed": self._stats(book),
            "written_to_it": dict(written),
            "missed_causes": {"not_written_to_it (skipped ids, outages)": not_written,
                              "lost_in_transit_or_double_counted": trades.missed_trades - not_written},
            "error": None if pipeline.trades_feed.error is None else str(pipeline.trades_feed.error),
        }

    @staticmethod
    def _stats(stats: Any) -> dict[str, Any]:
        values = asdict(stats)
        for key in ("latency_p50", "latency_p99"):
            values[key + "_ms"] = _ms(values.pop(key))
        return values

    def _downstream(self, strategy: SoakTrader, consumer_read: Counter[str]) -> list[Check]:
        """What each pipeline's feed delivered against what its sink took."""
        paper = self.pipelines["paper"]
        dropped = paper.queue.stats.dropped
        checks = [Check("paper: trades the feed delivered == ticks the strategy saw + dropped by the queue",
                        paper.trades_feed.stats.trades, strategy.ticks + dropped),
                  Check("paper: ticks out of id order", strategy.out_of_order, 0)]
        recording = self.pipelines["recorder"].extra
        recorder = recording["recorder"]
        rows, unique, missed_marked = self._read_recording(recording["out"])
        refused = recorder.stats.refused.total()  # rows the recorder refused (the feed refuses bad trades first)
        rec_feed = self.pipelines["recorder"].trades_feed.stats
        checks += [Check("recorder: trades the feed delivered == rows written + refused", rec_feed.trades,
                         recorder.stats.trades + refused),
                   Check("recorder: rows written == rows read back", recorder.stats.trades, rows),
                   Check("recorder: rows read back == distinct trade ids in them", rows, unique),
                   Check("recorder: missed-trade gap markers == the feed's missed trades", missed_marked,
                         rec_feed.missed_trades)]
        bus = self.pipelines["bus"].extra
        tick_feed, book_feed = bus["consumer"]
        bus_feed = self.pipelines["bus"].trades_feed.stats
        consumed, trimmed = tick_feed.stats, tick_feed.stats.trimmed
        checks += [Check("bus: trades the feed delivered == trades published", bus_feed.trades,
                         bus["published"]["tick"]),
                   Check("bus: trades published == consumer read + trimmed + duplicates",
                         bus["published"]["tick"], consumer_read["tick"] + trimmed + consumed.duplicates),
                   Check("bus: consumer's trades out of id order", consumer_read["out_of_order"], 0),
                   Check("bus: book updates published == consumer read + trimmed + duplicates",
                         bus["published"]["orderbook"],
                         consumer_read["orderbook"] + book_feed.stats.trimmed + book_feed.stats.duplicates)]
        return checks

    @staticmethod
    def _read_recording(out: Path) -> tuple[int, int, int]:
        """(rows, distinct trade ids, missed ids the gap markers name) of the recording's trades."""
        from ..sources import open_trades
        from ..sources.recordings import RecordingSource

        source = open_trades(out, symbol=SYMBOL)
        assert isinstance(source, RecordingSource)  # a directory is read as a recording
        chunks = list(source.chunks())
        ids = [chunk.trade_id for chunk in chunks if chunk.trade_id is not None]  # None: a row without an id
        distinct = len(np.unique(np.concatenate(ids))) if ids else 0
        missed = sum(gap["count"] for gap in source.gaps if gap["kind"] == "missed_trades")
        return sum(len(chunk) for chunk in chunks), distinct, missed


# --- the command ------------------------------------------------------------------------------


def run_soak(config: SoakConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the soak described by ``config``; returns the report (see the module docstring)."""
    return Soak(config, progress).run()


def format_report(report: dict[str, Any]) -> str:
    """The report as text: figures first, then every reconciliation, failures marked."""
    totals, latency, rss = report["totals"], report["latency_ms"], report["rss_mb"]
    lines = [
        f"soak from {report['started']}: {report['duration_s']:,.0f} s, seed {report['config']['seed']}",
        f"server: {report['server']['trade_ids']:,} trade ids ({report['server']['good_trades']:,} trades, "
        f"{report['server']['bad_trades']} bad, {report['server']['skipped_ids']} skipped), "
        f"{report['server']['depth_updates']:,} depth updates",
        "faults: " + ", ".join(f"{kind} {n}" for kind, n in report["faults"].items()),
        "all feeds: " + ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in totals.items()),
        f"feed latency (recv - exchange time): p50 {latency['p50']} ms, p99 {latency['p99']} ms "
        f"(worst sampled p99 {latency['worst_sampled_p99']} ms); queue wait p50 {report['queue_wait_ms']['p50']} ms, "
        f"p99 {report['queue_wait_ms']['p99']} ms",
        f"RSS: start {rss['start']} MB, end {rss['end']} MB, max {rss['max']} MB; samples: "
        + " ".join(f"{t:g}s:{mb:g}" for t, mb in report["rss_samples"]),
    ]
    for name, pipeline in report["pipelines"].items():
        feed = pipeline["trades_feed"]
        lines.append(f"{name}: {feed['trades']:,} trades, {pipeline['book_feed']['books']:,} books, "
                     f"reconnects {feed['reconnects'] + pipeline['book_feed']['reconnects']}, watchdog "
                     f"{feed['watchdog_restarts'] + pipeline['book_feed']['watchdog_restarts']}, resyncs "
                     f"{pipeline['book_feed']['resyncs']}, bad {feed['bad_messages']}, missed {feed['missed_trades']}, "
                     f"duplicates {feed['duplicates']}")
    lines.append("orders: " + ", ".join(f"{k} {v}" for k, v in report["strategy"]["orders"].items())
                 + f"; exchange ledger {report['exchange_ledger']}")
    lines.append(f"load average: start {report['load_average']['start']}, end {report['load_average']['end']}")
    lines.append("reconciliation:")
    for check in report["reconciliation"]:
        mark = "ok  " if check["ok"] else "FAIL"
        lines.append(f"  {mark} {check['name']}: {check['left']:,} vs {check['right']:,}"
                     + (f" ({check['note']})" if check["note"] and not check["ok"] else ""))
    for error in report["errors"]:
        lines.append(f"ERROR {error}")
    lines.append("every count adds up" if report["reconciled"] else "NOT RECONCILED")
    return "\n".join(lines)


def soak_parser() -> argparse.ArgumentParser:
    """The options of ``btchannels bench --only soak``."""
    parser = argparse.ArgumentParser(
        prog="btchannels bench --only soak",
        description="Run the live parts together (local exchange, a live run, the recorder, the Redis bus) "
                    "with random faults for a stated time; report the figures and whether every count adds up "
                    "(exit 1 if not).")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=_positive_float, help="how long to run (default: 10 minutes)")
    length.add_argument("--hours", type=_positive_float, help="how long to run, in hours")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the faults and the prices (default: 1)")
    parser.add_argument("--trade-rate", type=_positive_float, default=100.0, help="trades a second (default: 100)")
    parser.add_argument("--book-rate", type=_positive_float, default=10.0,
                        help="depth updates a second (default: 10)")
    parser.add_argument("--fault-every", type=_positive_float, default=5.0,
                        help="seconds between faults, on average (default: 5)")
    parser.add_argument("--stale-timeout", type=_positive_float, default=10.0,
                        help="the feeds' watchdog, seconds without data (default: 10)")
    parser.add_argument("--sample-every", type=_positive_float, default=30.0,
                        help="seconds between RSS and latency samples (default: 30)")
    parser.add_argument("--paper", action="store_true",
                        help="the simulated broker instead of the CCXTBroker on the local exchange's account "
                             "(then no trading-side faults)")
    parser.add_argument("--json", type=Path, help="also write the report here, as JSON")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def config_from_args(args: argparse.Namespace) -> SoakConfig:
    seconds = args.hours * 3600.0 if args.hours else (args.minutes or 10.0) * 60.0
    return SoakConfig(seconds=seconds, seed=args.seed, trade_rate=args.trade_rate, book_rate=args.book_rate,
                      fault_every=args.fault_every, stale_timeout=args.stale_timeout,
                      sample_every=args.sample_every, paper=args.paper, json_path=args.json)


def main_soak(argv: list[str]) -> int:
    """``btchannels bench --only soak [--minutes M | --hours H] [--seed S] [--json PATH] ...``."""
    config = config_from_args(soak_parser().parse_args(argv))
    report = run_soak(config, progress=lambda text: print(text, flush=True))
    print(format_report(report))
    if config.json_path is not None:
        config.json_path.write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["reconciled"] else 1
