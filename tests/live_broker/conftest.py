"""A live run against FakeExchange with the real ccxt client: fixtures and a driver thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import backtrader as bt
import pytest

import backtrader_channels  # noqa: F401  (installs tick mode)
from backtrader_channels.broker.ccxt_broker import CCXTBroker
from backtrader_channels.feeds import CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing.exchange import FakeExchange

SYMBOL = "BTC/USDT"
PERPETUAL = "BTC/USDT:USDT"


RUN_DIRS: dict[int, Any] = {}  # id(FakeExchange) -> the run directory its live runs keep state in


@pytest.fixture
def exchange(tmp_path):
    with FakeExchange([SYMBOL]) as server:
        RUN_DIRS[id(server)] = tmp_path / "runs"
        yield server
        del RUN_DIRS[id(server)]


def broker_config(exchange: FakeExchange) -> dict[str, Any]:
    return {**exchange.ccxt_config(), "apiKey": exchange.api_key, "secret": exchange.secret, "timeout": 1000}


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder(bt.Strategy):
    """Records every order notification as (status, executed size, price, commission)."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, float, float, float]] = []
        self.orders: list[bt.Order] = []
        self.ticks = 0

    def notify_tick(self, tick: Any) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.on_first_tick()

    def on_first_tick(self) -> None:
        """Orders to send on the first trade (none here)."""

    def notify_order(self, order: bt.Order) -> None:
        self.notes.append((order.getstatusname(), order.executed.size, order.executed.price, order.executed.comm))

    def statuses(self) -> list[str]:
        return [note[0] for note in self.notes]


def live_run(exchange: FakeExchange, strategy: type, script: Callable[[Any], None], paper: bool = False,
             symbol: str = SYMBOL, exchange_id: str = "binance",
             prepare: Callable[[bt.Cerebro], Any] | None = None, **broker_options: Any):
    """Run ``strategy`` live on FakeExchange with a CCXTBroker (``paper``: the paper broker,
    commission 0.1% and partial fills, like FakeExchange's) while ``script(run)`` drives
    the exchange from another thread; ``run.strategy`` is the strategy once it exists.
    The run stops when the script returns; ``symbol`` is the one traded (``PERPETUAL``: USD-M
    futures), ``exchange_id`` the broker's ccxt exchange, ``prepare(cerebro)`` runs before the
    run starts. Returns (strategy, broker, cerebro)."""
    queue = LiveEventQueue()
    cerebro = bt.Cerebro()
    cerebro.add_live_feed(CCXTLiveTickFeed("binance", symbol, queue, config=exchange.ccxt_config()))
    if paper:
        broker = cerebro.broker
        broker.setcash(100_000.0)
        broker.setcommission(commission=exchange.fee_rate)
        broker.set_partial_fills(True)
    else:
        config = broker_options.pop("config", None) or broker_config(exchange)
        options = {"run_id": "t1", "run_dir": RUN_DIRS.get(id(exchange)), **broker_options}
        broker = CCXTBroker(exchange_id, config, **options)
        cerebro.setbroker(broker)
    cerebro.addstrategy(strategy)
    if prepare is not None:
        prepare(cerebro)
    run = Run(cerebro)
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            if paper:
                exchange.wait_subscriptions(exchange.trade_stream(symbol), 1)
            else:
                exchange.wait_user_connections(1)
            script(run)
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            cerebro.runstop()

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    results = cerebro.run(mode=bt.RunMode.TICK, duration=60)
    driver.join(10)
    if errors:
        raise errors[0]
    return results[0], broker, cerebro


def saw(status, times=1):
    """A predicate: the strategy was notified ``status`` at least ``times`` times."""
    return lambda strategy: strategy.statuses().count(status) >= times


def trades_then(exchange: FakeExchange, symbol: str, *steps: tuple[int, str, Callable[[Any], Any]]):
    """A ``live_run`` script: for each ``(count, what, predicate)`` step, ``count`` trades of
    ``symbol`` are sent, then the run waits until ``predicate(strategy)``."""

    def script(run: Run) -> None:
        for count, what, predicate in steps:
            exchange.send_trades(symbol, count)
            run.wait(predicate, what)

    return script


class Run:
    def __init__(self, cerebro: bt.Cerebro) -> None:
        self.cerebro = cerebro

    @property
    def strategy(self) -> Any:
        engine = getattr(self.cerebro, "_bc_engine", None)
        return engine.strategies[0] if engine is not None and engine.strategies else None

    def wait(self, predicate: Callable[[Any], Any], what: str, timeout: float = 30.0) -> Any:
        try:
            return wait_for(lambda: self.strategy is not None and predicate(self.strategy), timeout, what)
        except AssertionError as error:
            seen = getattr(self.strategy, "notes", None)
            counts = getattr(self.cerebro.broker, "counts", None)
            raise AssertionError(f"{error}; the strategy saw {seen}; broker counts {counts}") from None
