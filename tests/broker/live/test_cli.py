"""``btchannels live --broker ccxt``: a strategy file trading at FakeExchange, keys from the environment."""

from __future__ import annotations

import threading

import pytest

from backtrader_channels.cli import main
from backtrader_channels.testing.exchange import FakeExchange

from .conftest import PERPETUAL, SYMBOL

BUY_ONCE_FILE = '''  # a strategy file: one market buy, then stop
import backtrader as bt


class BuyOnce(bt.Strategy):
    def notify_tick(self, tick):
        if not getattr(self, "sent", False):
            self.sent = True
            self.buy(size=0.01)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.env.runstop()
'''


def test_live_command_with_the_ccxt_broker_trades_at_the_exchange_and_prints_its_summary(
        exchange, tmp_path, monkeypatch, capsys):
    strategy = tmp_path / "buy_once.py"
    strategy.write_text(BUY_ONCE_FILE)
    monkeypatch.chdir(tmp_path)  # the run's state goes to ./btchannels-runs
    monkeypatch.setenv("BTCHANNELS_API_KEY", exchange.api_key)
    monkeypatch.setenv("BTCHANNELS_API_SECRET", exchange.secret)
    sender = threading.Thread(target=exchange.send_trades, args=(SYMBOL, 100), kwargs={"rate": 50, "timeout": 30},
                              daemon=True)
    sender.start()
    status = main(["live", str(strategy), "--broker", "ccxt", "--rest-url", exchange.http_url,
                   "--ws-url", exchange.ws_url, "--duration", "30"])
    out = capsys.readouterr()
    orders, fills = exchange.ledger()
    assert status == 0
    assert len(orders) == 1 and orders[0]["status"] == "FILLED" and len(fills) == 1
    assert "1 sent, 1 accepted, 1 completed, 0 cancelled, 0 rejected" in out.out
    assert "binance sandbox" in out.out
    assert exchange.api_key not in out.out + out.err and exchange.secret not in out.out + out.err


SHORT_ONCE = BUY_ONCE_FILE.replace("BuyOnce", "ShortOnce").replace("self.buy(size=0.01)", "self.sell(size=0.01)")


@pytest.fixture
def perpetual_exchange():
    with FakeExchange([], perpetuals=[PERPETUAL]) as server:
        yield server


def test_live_command_shorts_a_perpetual_at_the_leverage_asked(perpetual_exchange, tmp_path, monkeypatch, capsys):
    exchange = perpetual_exchange
    strategy = tmp_path / "short_once.py"
    strategy.write_text(SHORT_ONCE)
    monkeypatch.chdir(tmp_path)  # the run's state goes to ./btchannels-runs
    monkeypatch.setenv("BTCHANNELS_API_KEY", exchange.api_key)
    monkeypatch.setenv("BTCHANNELS_API_SECRET", exchange.secret)
    sender = threading.Thread(target=exchange.send_trades, args=(PERPETUAL, 100),
                              kwargs={"rate": 50, "timeout": 30}, daemon=True)
    sender.start()
    status = main(["live", str(strategy), "--broker", "ccxt", "--symbol", PERPETUAL, "--leverage", "5",
                   "--rest-url", exchange.http_url, "--ws-url", exchange.ws_url, "--duration", "30"])
    out = capsys.readouterr()
    orders, fills = exchange.ledger()
    assert status == 0
    assert [(o["side"], o["status"]) for o in orders] == [("SELL", "FILLED")] and len(fills) == 1
    assert exchange.futures.leverage == {"BTCUSDT": 5}
    assert "1 sent, 1 accepted, 1 completed, 0 cancelled, 0 rejected" in out.out
