"""A run picks up the orders an earlier run left open; the kill switch leaves none; keys
never show in logs, errors, reprs or the summary."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

import backtrader as bt
import pytest

from backtrader_channels.broker.ccxt_broker import CCXTBroker, load_credentials
from backtrader_channels.bus import add_control, send_local

from .conftest import SYMBOL, Recorder, broker_config, live_run


class RestTwoBids(Recorder):
    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.append(self.buy(size=0.1, price=49_000.0, exectype=bt.Order.Limit))
            self.orders.append(self.buy(size=0.2, price=48_000.0, exectype=bt.Order.Limit))


def test_the_kill_switch_cancels_every_open_order_when_the_run_stops(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: s.statuses().count("Accepted") == 2, "two accepted bids")

    strategy, broker, cerebro = live_run(exchange, RestTwoBids, script)
    orders, _ = exchange.ledger()
    assert [o["status"] for o in orders] == ["CANCELED", "CANCELED"]
    assert exchange.open_orders() == []
    assert strategy.statuses().count("Canceled") == 2
    assert ("kill switch", "2 open orders cancelled at stop") in cerebro._bc_engine.live.rows()
    assert exchange.balances["USDT"] == pytest.approx(100_000)


def test_a_new_run_picks_up_the_orders_an_earlier_run_left_open_and_books_their_fills(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_000.5, 0.1), (48_999.0, 1.0)])

    def first(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: s.statuses().count("Accepted") == 2, "two accepted bids")

    live_run(exchange, RestTwoBids, first, cancel_on_stop=False)
    assert len(exchange.open_orders()) == 2

    class Quiet(Recorder):
        pass

    def second(run):
        run.wait(lambda s: s.statuses().count("Accepted") == 2, "the two open bids adopted")
        exchange.send_trades(SYMBOL, 2)
        run.wait(lambda s: "Completed" in s.statuses(), "the 49 000 bid filled")

    strategy, broker, _ = live_run(exchange, Quiet, second, run_id="t2")
    assert broker.counts["adopted"] == 2
    assert strategy.statuses() == ["Accepted", "Accepted", "Completed", "Canceled"]
    assert strategy.notes[2][1:3] == (0.1, 49_000.0)
    _, trades = exchange.ledger()
    assert len(trades) == 1 and exchange.open_orders() == []
    assert broker.getposition(strategy.data).size == pytest.approx(0.1)


def test_api_keys_never_appear_in_logs_errors_reprs_or_the_summary(exchange, caplog):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    exchange.fail_next("timeout_after_accept")
    exchange.stall_seconds = 1.5

    class Big(Recorder):
        def notify_tick(self, tick) -> None:
            self.ticks += 1
            if self.ticks == 1:
                self.orders.append(self.buy(size=0.1, price=49_000.0, exectype=bt.Order.Limit))
                self.orders.append(self.buy(size=50.0))  # refused by the exchange: balance

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Margin" in s.statuses() and "Accepted" in s.statuses(), "accepted and refused")

    with caplog.at_level(logging.DEBUG):
        strategy, broker, cerebro = live_run(exchange, Big, script)
    shown = "\n".join([caplog.text, repr(broker), str(cerebro._bc_engine.live.rows()),
                       str(strategy.orders[1].info.reason), repr(broker.client), repr(broker.user_feed)])
    assert "insufficient balance" in shown and "t1x1" in shown
    assert exchange.api_key not in shown and exchange.secret not in shown


def test_keys_come_from_the_environment_or_a_file_never_the_command_line(tmp_path):
    file = tmp_path / "keys.json"
    file.write_text('{"apiKey": "file-key-1234", "secret": "file-secret-1234"}')
    assert load_credentials({}, file, environ={}) == {"apiKey": "file-key-1234", "secret": "file-secret-1234"}
    environ = {"BTCHANNELS_API_KEY": "env-key-1234", "BTCHANNELS_API_SECRET": "env-secret-1234"}
    assert load_credentials({"timeout": 5}, None, environ) == {
        "timeout": 5, "apiKey": "env-key-1234", "secret": "env-secret-1234"}
    broker = CCXTBroker("binance", {"apiKey": "cfg-key-1234", "secret": "cfg-secret-1234"})
    assert "cfg-key-1234" not in repr(broker) and "cfg-secret-1234" not in repr(broker)
    assert broker.sandbox is True  # the default for first runs


def test_an_order_above_the_limits_is_refused_before_it_leaves(exchange):
    from backtrader_channels.broker.limits import Limits

    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    reasons = []

    class TooBig(Recorder):
        def notify_tick(self, tick) -> None:
            self.ticks += 1
            if self.ticks == 1:
                self.buy(size=0.5, price=49_000.0, exectype=bt.Order.Limit)  # size limit
                self.buy(size=0.2, price=49_000.0, exectype=bt.Order.Limit)  # notional 9 800 > 5 000
                self.buy(size=0.1, price=40_000.0, exectype=bt.Order.Limit)  # 4 000: sent
                self.buy(size=0.05, price=40_000.0, exectype=bt.Order.Limit)  # run total 6 000 > 5 500

        def notify_order(self, order) -> None:
            super().notify_order(order)
            if order.status == order.Rejected:
                reasons.append(order.info.reason)

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Accepted" in s.statuses() and len(reasons) == 3, "one accepted, three refused")

    limits = Limits(max_order_size=0.3, max_order_notional=5_000, max_run_notional=5_500)
    live_run(exchange, TooBig, script, limits=limits)
    assert reasons == [
        "order size 0.5 exceeds max_order_size 0.3",
        "order notional 9,800.00 exceeds max_order_notional 5,000.00",
        "run notional 6,000.00 would exceed max_run_notional 5,500.00",
    ]
    assert exchange.order_requests == 1
    assert broker_config(exchange)["timeout"] == 1000


def test_a_stop_command_on_the_control_socket_is_the_kill_switch(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    path = Path(tempfile.mkdtemp(prefix="bc-ctl-")) / "ctl.sock"  # Unix socket paths must be short

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: s.statuses().count("Accepted") == 2, "two accepted bids")
        send_local(path, "stop")
        # the run's own runstop comes only after this script returns: these come from the command
        run.wait(lambda s: s.statuses().count("Canceled") == 2, "both bids cancelled by the stop command")

    strategy, _, cerebro = live_run(exchange, RestTwoBids, script,
                                    prepare=lambda cerebro: add_control(cerebro, "ctl-test", socket_path=path))
    orders, _ = exchange.ledger()
    assert [o["status"] for o in orders] == ["CANCELED", "CANCELED"]
    assert exchange.open_orders() == []
    assert ("kill switch", "2 open orders cancelled at stop") in cerebro._bc_engine.live.rows()


def test_flatten_on_stop_sells_the_position_and_books_the_fills(exchange):
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_001.0, 1.0)])

    class BuyMarket(Recorder):
        def notify_tick(self, tick) -> None:
            self.ticks += 1
            if self.ticks == 1:
                self.buy(size=0.2)

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Accepted" in s.statuses(), "the buy accepted")
        exchange.send_trades(SYMBOL, 1)
        run.wait(lambda s: "Completed" in s.statuses(), "the buy filled")
        exchange.script_trades(SYMBOL, [(49_999.0, 1.0)] * 20)
        threading.Thread(target=exchange.send_trades, args=(SYMBOL, 20), kwargs={"rate": 20}, daemon=True).start()

    strategy, broker, _ = live_run(exchange, BuyMarket, script, flatten_on_stop=True)
    orders, trades = exchange.ledger()
    assert [(o["side"], o["status"]) for o in orders] == [("BUY", "FILLED"), ("SELL", "FILLED")]
    assert [float(t["price"]) for t in trades] == [50_001.0, 49_999.0]
    assert exchange.balances.get("BTC", 0.0) == pytest.approx(0.0)
    assert broker.getposition(strategy.data).size == pytest.approx(0.0)
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])
    assert strategy.statuses()[-2:] == ["Accepted", "Completed"]
