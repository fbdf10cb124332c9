"""The live order lifecycle against a local exchange that follows Binance's rules, with the
faults of real outages stacked: nothing doubled, lost, guessed or phantom.

Each test here failed on the broker before the redesign (a create re-sent after failed
look-ups, a guessed Rejected, one unpaged trade list, a client-id counter restarting at 1,
a frozen stream unnoticed until stop, time in force dropped, keys in ccxt's verbose output,
-1021 retried as a network error).
"""

from __future__ import annotations

import time

import backtrader as bt
import pytest

from backtrader_channels.execution import RunStore

from .conftest import SYMBOL, RUN_DIRS, Recorder, broker_config, live_run, saw


class BuyOnFirstTick(Recorder):
    def on_first_tick(self) -> None:
        self.orders.append(self.buy(size=0.1))


class BidOnFirstTick(Recorder):
    """A resting bid for 1.2 BTC at 49,000."""

    def on_first_tick(self) -> None:
        self.orders.append(self.buy(size=1.2, price=49_000.0, exectype=bt.Order.Limit))


def exchange_position(exchange) -> float:
    return exchange.balances.get("BTC", 0.0) + exchange.locked.get("BTC", 0.0)


def test_a_create_lost_after_acceptance_while_look_ups_fail_is_never_sent_again(exchange):
    """Binance takes a repeated client id once the first order is filled: a blind re-send
    after failed look-ups doubled a filled market order (0.1 booked, 0.2 held)."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_010.0, 1.0), (50_020.0, 1.0)])
    exchange.fail_next("timeout_after_accept")
    exchange.stall_requests("GET", "/api/v3/order", times=3)

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "the stream's word on the order")
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Completed"), "the fill")
        run.wait(lambda s: run.cerebro.broker.client.counts.lookups >= 4, "three failed look-ups and a found one")
        exchange.send_trades(SYMBOL, 1)  # would fill a second order, had one been sent

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    orders, fills = exchange.ledger()
    assert [(o["clientOrderId"], o["status"]) for o in orders] == [("t1x1", "FILLED")]
    assert len(fills) == 1 and exchange.order_requests == 1
    assert strategy.statuses() == ["Submitted", "Accepted", "Completed"]
    assert broker.getposition(strategy.data).size == pytest.approx(0.1) == pytest.approx(exchange_position(exchange))
    assert broker.execution_counts.unknown == 1 and broker.execution_counts.lookup_failures == 3


def test_an_unknown_create_is_submitted_until_known_and_its_fill_is_booked_not_rejected(exchange):
    """The same with the user stream silent: the strategy was told 'Rejected: Duplicate order
    sent.' while the order filled, and the fill was counted foreign (booked 0, held 0.1)."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_010.0, 1.0)])
    exchange.fail_next("timeout_after_accept")
    exchange.stall_requests("GET", "/api/v3/order", times=3)

    def script(run):
        exchange.set_user_stream("silent")
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: len(exchange.orders) == 1, "the order at the exchange")
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Completed"), "the fill, from a look-up and the trade list", timeout=30)

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    assert strategy.statuses() == ["Submitted", "Accepted", "Completed"]
    assert [fill.source for fill in broker.exchange_fills] == ["reconcile"]
    assert broker.counts["foreign"] == 0 and broker.counts["unknown"] == 1
    assert exchange.order_requests == 1
    assert broker.getposition(strategy.data).size == pytest.approx(0.1) == pytest.approx(exchange_position(exchange))


def test_six_hundred_fills_during_a_silent_stream_are_all_booked_over_two_pages(exchange):
    """Binance's trade list pages at 500 by default, 1000 at most: fills 501-600 were lost."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)] + [(48_999.0, 0.002)] * 600)

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "the bid accepted")
        exchange.set_user_stream("silent")
        exchange.send_trades(SYMBOL, 600)
        run.wait(saw("Completed"), "the bid filled by 600 prints", timeout=40)

    strategy, broker, _ = live_run(exchange, BidOnFirstTick, script)
    order = strategy.orders[0]
    assert len(broker.exchange_fills) == 600 == len(exchange.my_trades)
    assert order.executed.size == pytest.approx(1.2) and order.executed.price == pytest.approx(49_000.0)
    assert broker.execution_counts.pages >= 2  # 600 trades do not fit the first page of 500... or 1000
    assert len(RunStore(RUN_DIRS[id(exchange)], "t1").fills()) == 600


def test_a_restarted_run_keeps_its_open_orders_and_gives_new_orders_new_ids(exchange):
    """The client-id counter restarted at 1: the restarted strategy's orders were refused as
    duplicates, mapped onto the old ones and notified Accepted (3 alive here, 0 at the exchange)."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_001.0, 0.1)])

    class ThreeBids(Recorder):
        def on_first_tick(self) -> None:
            for price in (49_000.0, 48_000.0, 47_000.0):
                self.orders.append(self.buy(size=0.01, price=price, exectype=bt.Order.Limit))

    def first(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted", 3), "three bids accepted")

    live_run(exchange, ThreeBids, first, cancel_on_stop=False)

    def second(run):
        run.wait(saw("Accepted", 3), "the three bids of the first run, resumed")
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted", 6), "three new bids accepted")

    strategy, broker, _ = live_run(exchange, ThreeBids, second, cancel_on_stop=False)
    ids = [o["clientOrderId"] for o in exchange.open_orders()]
    assert sorted(ids) == ["t1x1", "t1x2", "t1x3", "t1x4", "t1x5", "t1x6"]
    alive = sorted(order.info.client_id for order in broker.working_orders())
    assert alive == sorted(ids)
    assert [o.info.client_id for o in strategy.orders] == ["t1x4", "t1x5", "t1x6"]
    assert broker.counts["resumed"] == 3 and broker.counts["adopted"] == 0


def test_a_frozen_user_stream_is_caught_and_the_fill_reaches_the_strategy_within_the_bound(exchange):
    """A stream that stays open and says nothing: the fill was told only at stop."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (48_999.0, 2.0)])
    took: list[float] = []

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "the bid accepted")
        exchange.set_user_stream("frozen")
        exchange.send_trades(SYMBOL, 1)
        filled = time.monotonic()
        run.wait(saw("Completed"), "the fill, found over REST", timeout=15)
        took.append(time.monotonic() - filled)

    strategy, broker, _ = live_run(exchange, BidOnFirstTick, script)
    assert strategy.statuses() == ["Submitted", "Accepted", "Completed"]
    assert broker.execution_counts.stream_stalls >= 1
    assert took and took[0] < 15  # the stated bound: quiet_after (5 s) plus a reconciliation


class TimeInForce(Recorder):
    def on_first_tick(self) -> None:
        limit = dict(exectype=bt.Order.Limit, size=0.01)
        self.orders.append(self.buy(price=49_000.0, timeInForce="IOC", **limit))
        self.orders.append(self.buy(price=49_000.0, postOnly=True, timeInForce="IOC", **limit))
        self.orders.append(self.buy(price=48_000.0, postOnly=True, **limit))


def test_time_in_force_and_post_only_reach_the_exchange_or_are_refused_by_name(exchange):
    """A limit with postOnly=True, timeInForce='IOC' reached the exchange as plain GTC."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_000.0, 0.1)])

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Expired" in s.statuses() and s.statuses().count("Accepted") == 2, "IOC expired")

    strategy, broker, _ = live_run(exchange, TimeInForce, script)
    ioc, both, maker = strategy.orders
    assert ioc.getstatusname() == "Expired" and both.getstatusname() == "Rejected"
    assert "postOnly" in both.info.reason and "IOC" in both.info.reason
    by_id = {o["clientOrderId"]: o for o in exchange.ledger()[0]}
    assert by_id[ioc.info.client_id]["timeInForce"] == "IOC" and by_id[ioc.info.client_id]["status"] == "EXPIRED"
    assert by_id[maker.info.client_id]["type"] == "LIMIT_MAKER"
    assert exchange.order_requests == 2  # the contradictory one never left


def test_verbose_ccxt_prints_no_key_and_no_signature(exchange, capfd):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_010.0, 1.0)])

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "Accepted")
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Completed"), "Completed")

    live_run(exchange, BuyOnFirstTick, script, config={**broker_config(exchange), "verbose": True})
    out, err = capfd.readouterr()
    assert "X-MBX-APIKEY" in out  # ccxt did print its requests
    assert exchange.api_key not in out + err and exchange.secret not in out + err
    assert "signature=***" in out and "signature=0" not in out


def test_a_clock_skew_is_answered_by_resynchronising_within_seconds(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_010.0, 1.0)])
    took: list[float] = []

    def script(run):
        exchange.clock_skew_ms = -3_000  # the exchange's clock now runs 3 s behind ours
        started = time.monotonic()
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "Accepted after a resync", timeout=10)
        took.append(time.monotonic() - started)
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Completed"), "Completed")

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    assert [code for _, code, _ in exchange.refused] == [-1021]
    assert broker.execution_counts.clock_resyncs == 1 and exchange.order_requests == 2
    assert strategy.statuses() == ["Submitted", "Accepted", "Completed"]
    assert took[0] < 5
