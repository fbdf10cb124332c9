"""Faults between the broker and the exchange: nothing doubled, nothing lost, counted
against the exchange's own ledger."""

from __future__ import annotations

import logging

import backtrader as bt
import pytest

from .conftest import SYMBOL, Recorder, broker_config, live_run, saw, trades_then, wait_for


class BuyOnFirstTick(Recorder):
    params = (("size", 0.2),)

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.buy(size=self.p.size, price=49_990.0, exectype=bt.Order.Limit))


def booked_once(strategy, broker, exchange, size):
    """The exchange has one order, filled; the strategy saw it accepted once and completed once."""
    orders, trades = exchange.ledger()
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    assert strategy.statuses().count("Accepted") == 1
    assert strategy.statuses()[-1] == "Completed"
    assert [fill.trade_id for fill in broker.exchange_fills] == [str(t["id"]) for t in trades]
    assert broker.getposition(strategy.data).size == pytest.approx(size)
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])


def test_a_timeout_after_the_exchange_accepted_the_order_never_places_a_second_one(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (49_980.0, 1.0)])
    exchange.fail_next("timeout_after_accept")
    exchange.stall_seconds = 2.5  # the broker's ccxt gives up after 1 s

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Accepted" in s.statuses(), "Accepted")  # from the user stream
        wait_for(lambda: exchange.rest_calls["/api/v3/order"] == 2, what="the query by client order id")
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Completed" in s.statuses(), "Completed")

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    assert exchange.order_requests == 1  # looked up by its client order id, not sent again
    assert exchange.rest_calls["/api/v3/order"] >= 2  # the create, then the query
    booked_once(strategy, broker, exchange, 0.2)


def test_rate_limit_answers_are_waited_out_and_the_order_is_placed_once(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (49_980.0, 1.0)])
    exchange.fail_next("rate_limit", times=2)

    script = trades_then(exchange, SYMBOL, (1, "Accepted", saw("Accepted")), (1, "Completed", saw("Completed")))

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    assert exchange.order_requests == 3
    assert [code for _, code, _ in exchange.refused] == [-1003, -1003]
    summary = dict(broker.summary())
    assert summary["execution"].startswith("1 creates sent, 2 re-sent after 429/-1021, 0 unknown")  # the 429s
    assert summary["reconciliations"] == "1"  # the stream's first subscription (the stop's is its own)
    booked_once(strategy, broker, exchange, 0.2)


def test_a_fill_while_the_user_stream_is_down_is_delivered_once_by_reconciliation(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (49_980.0, 1.0)])

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Accepted" in s.statuses(), "Accepted")
        exchange.fail_next("drop_user_stream_on_fill")
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Completed" in s.statuses(), "Completed", timeout=15)

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    assert broker.user_feed.stats.reconnects >= 1
    assert [fill.source for fill in broker.exchange_fills] == ["reconcile"]
    booked_once(strategy, broker, exchange, 0.2)


def test_an_order_the_exchange_refuses_is_rejected_once_with_its_reason(exchange, caplog):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    exchange.fail_next("reject")

    script = trades_then(exchange, SYMBOL, (1, "Rejected", saw("Rejected")))

    with caplog.at_level(logging.ERROR, logger="backtrader_channels.broker"):
        strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    assert strategy.statuses() == ["Submitted", "Rejected"]
    assert exchange.ledger() == ([], []) and exchange.order_requests == 1
    reason = ('InvalidOrder: binance order amount should be evenly divisible by lot size '
              '{"code": -1013, "msg": "Filter failure: LOT_SIZE"}')
    assert strategy.orders[0].info.reason == reason
    assert f"order t1x1 rejected by the exchange: {reason}" in caplog.text


@pytest.mark.slow
def test_an_order_every_attempt_of_which_is_refused_for_the_rate_is_rejected_not_left_hanging(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    exchange.fail_next("rate_limit", times=5)

    script = trades_then(exchange, SYMBOL, (1, "Rejected", saw("Rejected")))

    config = {**broker_config(exchange), "timeout": 10_000}  # each 429 answered in time, however loaded the machine
    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script, config=config)
    assert strategy.statuses() == ["Submitted", "Rejected"]
    assert exchange.order_requests == 5 and exchange.ledger() == ([], [])
    assert strategy.orders[0].info.reason.startswith("not placed after 5 attempts: DDoSProtection: binance 429")
