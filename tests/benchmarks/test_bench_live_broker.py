"""Order round trips through the real ccxt client to FakeExchange on loopback: strategy
``buy`` -> ``Accepted`` and -> ``Completed`` for a market order (filled on the next trade
of a 200 trades/s stream), p50/p99 in ``extra_info``, on spot and on a USD-M perpetual;
every order and fill counted against the exchange's ledger."""

from __future__ import annotations

import time

import backtrader as bt
import numpy as np
import pytest

from backtrader_channels.testing.exchange import FakeExchange
from tests.broker.live.conftest import PERPETUAL, SYMBOL, live_run, run_dirs  # noqa: F401  (each run's state in tmp_path)

ROUND_TRIPS = 40


class RoundTrips(bt.Strategy):
    """One small market buy at a time; records buy -> Accepted and buy -> Completed."""

    def __init__(self) -> None:
        self.sent_at = 0.0
        self.order = None
        self.accepted: list[float] = []
        self.completed: list[float] = []

    def notify_tick(self, tick) -> None:
        if self.order is None and len(self.completed) < ROUND_TRIPS:
            self.sent_at = time.perf_counter()
            self.order = self.buy(size=0.001)

    def notify_order(self, order) -> None:
        now = time.perf_counter()
        if order.status == order.Accepted:
            self.accepted.append(now - self.sent_at)
        elif order.status == order.Completed:
            self.completed.append(now - self.sent_at)
            self.order = None


def round_trips(symbol: str) -> dict[str, float]:
    futures = symbol == PERPETUAL
    with FakeExchange([] if futures else [symbol], perpetuals=[symbol] if futures else []) as exchange:
        def drive(run):
            while run.strategy is None or len(run.strategy.completed) < ROUND_TRIPS:
                exchange.send_trades(symbol, 20, rate=200)

        strategy, broker, _ = live_run(exchange, RoundTrips, drive, symbol=symbol)
        orders, trades = exchange.ledger()
        assert len(orders) == ROUND_TRIPS and {o["status"] for o in orders} == {"FILLED"}
        assert len(broker.exchange_fills) == len(trades) and len(strategy.completed) == ROUND_TRIPS
        accepted, completed = np.array(strategy.accepted) * 1e3, np.array(strategy.completed) * 1e3
        return {"accepted_p50_ms": float(np.percentile(accepted, 50)),
                "accepted_p99_ms": float(np.percentile(accepted, 99)),
                "completed_p50_ms": float(np.percentile(completed, 50)),
                "completed_p99_ms": float(np.percentile(completed, 99))}


@pytest.mark.benchmark(group="live-broker")
@pytest.mark.parametrize("symbol", [SYMBOL, PERPETUAL], ids=["spot", "usdm-futures"])
def test_buy_to_accepted_and_completed_round_trip(benchmark, symbol):
    figures = benchmark.pedantic(round_trips, args=(symbol,), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    assert figures["completed_p50_ms"] >= figures["accepted_p50_ms"] > 0
    print(figures)
