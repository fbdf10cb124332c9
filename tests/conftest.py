"""Shared helpers: real data files written into tmp_path, and a scripted strategy."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import backtrader as bt
import pytest

import backtrader_channels as bc

T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


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
