"""Shared helpers: real data files written into tmp_path, and a scripted strategy; a check
that fails a test after which asyncio reported a leak (a task destroyed pending...)."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import backtrader as bt
import pytest

import backtrader_channels as bc

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


class AsyncioErrors(logging.Handler):
    """Every error the ``asyncio`` logger reports: "Task was destroyed but it is pending!",
    "Task exception was never retrieved", "Unclosed client session" (aiohttp)... each one a
    task, loop or connection that a test or a server left behind."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.checked = 0  # records before this index were reported already

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def new(self) -> list[str]:
        """The first lines of the records since the last call."""
        new, self.checked = self.records[self.checked:], len(self.records)
        return [record.getMessage().splitlines()[0] for record in new]


ASYNCIO_ERRORS = AsyncioErrors()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addHandler(ASYNCIO_ERRORS)


def pytest_collection_finish(session: pytest.Session) -> None:
    # what the imports made is never garbage: the collection after each test looks only at newer objects
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def no_asyncio_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test after which asyncio reported an error (see AsyncioErrors), but for the
    one its ``asyncio_error(text)`` marker expects (then it must be reported) or its
    ``asyncio_tolerated(text)`` marker allows (reported or not).

    A pending task is reported when it is collected, so the cyclic garbage is collected here;
    what survives is frozen, so that the next test's collection stays cheap (milliseconds).
    """
    leaks = ASYNCIO_ERRORS.new()
    if leaks:
        pytest.fail("asyncio reported, between the tests: " + "; ".join(leaks), pytrace=False)
    yield
    gc.collect()
    gc.freeze()
    leaks = ASYNCIO_ERRORS.new()
    marker = request.node.get_closest_marker("asyncio_error")
    if marker is not None:
        expected = marker.args[0]
        if not any(expected in leak for leak in leaks):
            pytest.fail(f"asyncio did not report the expected {expected!r}", pytrace=False)
        leaks = [leak for leak in leaks if expected not in leak]
    tolerated = request.node.get_closest_marker("asyncio_tolerated")
    if tolerated is not None:
        leaks = [leak for leak in leaks if tolerated.args[0] not in leak]
    if leaks:
        pytest.fail("asyncio reported, during this test: " + "; ".join(leaks), pytrace=False)


LATE_LEAKS: list[str] = []  # reported after the last test: of this process, and of xdist's workers


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    LATE_LEAKS.extend(getattr(node, "workeroutput", {}).get("asyncio_leaks", []))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Objects frozen alive that died later: a last full collection; the run fails on a leak."""
    gc.unfreeze()
    gc.collect()
    LATE_LEAKS.extend(ASYNCIO_ERRORS.new())
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports them
        workeroutput["asyncio_leaks"] = LATE_LEAKS
    elif LATE_LEAKS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("\nasyncio reported, after the last test: " + "; ".join(LATE_LEAKS), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def write_trades_csv(path: Path, rows: list[tuple]) -> Path:
    """Project trades CSV; rows are (timestamp, price, volume, direction[, trade_id])."""
    header = "timestamp,price,volume,direction" + (",trade_id" if rows and len(rows[0]) > 4 else "")
    lines = [header] + [",".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_book_jsonl(path: Path, updates: list[tuple]) -> Path:
    """Project book JSON lines; updates are (timestamp, 'snapshot'|'delta', bids, asks)."""
    lines = [json.dumps({"timestamp": ts, "type": kind, "bids": bids, "asks": asks}) for ts, kind, bids, asks in updates]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def write_minute_bars(path: Path, closes: list[float], start: str = "2025-01-01 00:01:00") -> Path:
    """One-minute bars as backtrader's GenericCSVData reads them; ``closes`` one per bar."""

    first = dt.datetime.fromisoformat(start)
    lines = ["datetime,open,high,low,close,volume"]
    for i, close in enumerate(closes):
        stamp = (first + dt.timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{stamp},{close},{close + 1},{close - 1},{close},10")
    path.write_text("\n".join(lines) + "\n")
    return path


def bar_feed(path: Path) -> bt.feeds.GenericCSVData:
    """The bar feed of a ``write_minute_bars`` file."""
    return bt.feeds.GenericCSVData(dataname=str(path), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
                                   datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1)


class Scripted(bt.Strategy):
    """Records what it sees; ``actions`` maps an event number (1-based) to a callable(strategy)."""

    params = (("actions", None),)

    def __init__(self):
        self.n = 0
        self.seen = []  # ('tick', ts, price) / ('book', ts, bid, ask) / ('bar', ts, close)
        self.orders = []  # (status, executed price, executed size, commission, event_time)
        self.refusals = []  # the reason of each order refused for margin
        self.trades = []  # closed trades: (pnl, pnlcomm)
        self.last_order = None

    def _act(self):
        self.n += 1
        action = (self.p.actions or {}).get(self.n)
        if action is not None:
            self.last_order = action(self)

    def notify_tick(self, tick):
        self.seen.append(("tick", tick.timestamp, tick.price, tick.symbol))
        self._act()

    def notify_orderbook(self, book):
        bid, ask = book.best_bid, book.best_ask
        self.seen.append(("book", self.event_time, bid.price if bid else None, ask.price if ask else None))
        self._act()

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        if order.status == order.Margin:
            self.refusals.append(order.info.get("reason"))
        self.orders.append((order.getstatusname(), order.executed.price, order.executed.size,
                            order.executed.comm, self.event_time))

    def notify_trade(self, trade):
        if trade.isclosed:
            self.trades.append((trade.pnl, trade.pnlcomm))


@pytest.fixture
def run_ticks(tmp_path):
    """Run ``Scripted`` in tick mode over trade rows (and optional book updates)."""

    def run(trades=None, book=None, actions=None, cash=100_000.0, commission=0.0, broker=None, stdstats=True,
            **channel_kw):
        cerebro = bt.Cerebro(stdstats=stdstats)
        cerebro.broker.setcash(cash)
        if commission:
            cerebro.broker.setcommission(commission=commission)
        if book is not None:
            cerebro.add_channel(bc.OrderBookChannel, symbol="BTC/USDT",
                                dataname=write_book_jsonl(tmp_path / "book.jsonl", book))
        if trades is not None:
            cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT",
                                dataname=write_trades_csv(tmp_path / "trades.csv", trades), **channel_kw)
        for name, value in (broker or {}).items():
            getattr(cerebro.broker, name)(*value) if isinstance(value, tuple) else getattr(cerebro.broker, name)(value)
        cerebro.addstrategy(Scripted, actions=actions)
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
        return strategy, cerebro

    return run
