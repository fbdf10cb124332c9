"""Property: the bulk path (trades no order can react to skipped in numpy) and the
per-event path give the same fills, cash, positions and order endings, for any orders on any stream,
with or without time in force, post-only and reduce-only."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import backtrader as bt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backtrader_channels as bc
from tests.conftest import T0, write_book_jsonl, write_trades_csv

MINUTES = 6
ORDER = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), st.just(0.0)),
    st.tuples(st.sampled_from(["limit", "stop", "stoplimit", "trail", "ioc", "fok", "postonly", "ioc-stoplimit",
                               "reduce-limit"]), st.sampled_from(["buy", "sell"]),
              st.integers(-6, 6).map(lambda ticks: ticks * 0.5)),
    st.tuples(st.just("reduce"), st.sampled_from(["buy", "sell"]), st.just(0.0)),
    st.tuples(st.sampled_from(["cancel", "close"]), st.just(""), st.just(0.0)),
)


@st.composite
def market(draw):
    n = draw(st.integers(5, 120))
    gaps = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 7.0, 30.0]), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    sizes = draw(st.lists(st.sampled_from([0.1, 0.5, 2.0]), min_size=n, max_size=n))
    times, prices, now, price = [], [], T0 + 1, 100.0
    for gap, step in zip(gaps, steps):
        now, price = now + gap, price + 0.5 * step
        times.append(now)
        prices.append(price)
    trades = [(t, p, v, "buy" if i % 3 else "sell") for i, (t, p, v) in enumerate(zip(times, prices, sizes))]
    orders = draw(st.lists(st.lists(ORDER, max_size=3), min_size=MINUTES, max_size=MINUTES))
    book = draw(st.booleans())
    broker = {"set_fill_on_touch": draw(st.booleans()), "set_partial_fills": draw(st.booleans()),
              "set_latency": draw(st.sampled_from([0.0, 0.0, 5.0]))}
    return trades, orders, book, broker


class Scripted(bt.Strategy):
    """At each bar close (the minute's last trade price), sends that minute's orders at prices
    relative to the close."""

    params = (("script", None),)

    def __init__(self):
        self.minute = 0
        self.last = None
        self.ended = []  # (status, executed size, when) of each order that ended

    def notify_order(self, order):
        if not order.alive():
            self.ended.append((order.getstatusname(), order.executed.size, order.executed.dt))

    def next(self):
        script = self.p.script
        if self.minute >= len(script):
            return
        close = self.data.close[0]
        for kind, side, offset in script[self.minute]:
            send = self.buy if side == "buy" else self.sell
            if kind == "market":
                self.last = send(size=0.5)
            elif kind == "limit":
                self.last = send(size=0.5, exectype=bt.Order.Limit, price=close + offset)
            elif kind == "stop":
                self.last = send(size=0.5, exectype=bt.Order.Stop, price=close + offset)
            elif kind == "stoplimit":
                self.last = send(size=0.5, exectype=bt.Order.StopLimit, price=close + offset, plimit=close + offset)
            elif kind in ("ioc", "fok"):
                self.last = send(size=0.5, exectype=bt.Order.Limit, price=close + offset, timeInForce=kind.upper())
            elif kind == "postonly":
                self.last = send(size=0.5, exectype=bt.Order.Limit, price=close + offset, postOnly=True)
            elif kind == "ioc-stoplimit":
                self.last = send(size=0.5, exectype=bt.Order.StopLimit, price=close + offset, plimit=close + offset,
                                 timeInForce="IOC")
            elif kind == "reduce-limit":
                self.last = send(size=0.5, exectype=bt.Order.Limit, price=close + offset, reduceOnly=True)
            elif kind == "reduce":
                self.last = send(size=0.7, reduceOnly=True)
            elif kind == "trail":
                self.last = send(size=0.5, exectype=bt.Order.StopTrail, trailamount=abs(offset) + 0.5)
            elif kind == "cancel" and self.last is not None:
                self.cancel(self.last)
            elif kind == "close":
                self.close()
        self.minute += 1


class ScriptedWatchingTicks(Scripted):
    def notify_tick(self, tick):  # forces the per-event path
        pass


def write_bars(path: Path, closes: list[float]) -> Path:
    first = dt.datetime(2025, 1, 1, 0, 1)
    rows = ["datetime,open,high,low,close,volume"] + [
        f"{(first + dt.timedelta(minutes=i)):%Y-%m-%d %H:%M:%S},{c},{c},{c},{c},1" for i, c in enumerate(closes)]
    path.write_text("\n".join(rows) + "\n")
    return path


def run(strategy, folder: Path, trades, orders, book, broker):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000.0)
    cerebro.broker.setcommission(commission=0.001)
    closes = [next((p for t, p, _, _ in reversed(trades) if t <= T0 + 60 * (i + 1)), 100.0) for i in range(MINUTES)]
    cerebro.adddata(bt.feeds.GenericCSVData(dataname=str(write_bars(folder / "bars.csv", closes)),
                                            dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
                                            openinterest=-1), name="BTC/USDT")
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(folder / "t.csv", trades))
    if book:  # another symbol's book interleaves with the trades and cuts the bulk runs short
        updates = [(T0 + 2 + 20 * k, "snapshot" if k == 0 else "delta", [[10.0 - k * 0.01, 1.0]], [[11.0, 1.0]])
                   for k in range(20)]
        cerebro.add_channel(bc.OrderBookChannel, symbol="ETH/USDT",
                            dataname=write_book_jsonl(folder / "book.jsonl", updates))
    for name, value in broker.items():
        getattr(cerebro.broker, name)(value)
    cerebro.addstrategy(strategy, script=orders)
    (result,) = cerebro.run(mode=bt.RunMode.TICK)
    position = cerebro.broker.getposition(result.data)
    fills = [(fill.timestamp, fill.symbol, fill.size, fill.price, fill.commission) for fill in cerebro.broker.fills]
    # order refs count across runs
    return fills, cerebro.broker.getcash(), position.size, position.price, result.ended


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market())
def test_bulk_and_per_event_paths_give_identical_fills_cash_positions_and_endings(case):
    trades, orders, book, broker = case
    with tempfile.TemporaryDirectory() as folder:
        bulk = run(Scripted, Path(folder), trades, orders, book, broker)
        per_event = run(ScriptedWatchingTicks, Path(folder), trades, orders, book, broker)
    assert bulk == per_event


def test_a_limit_marketable_on_arrival_fills_on_the_next_trade_in_bulk_too(tmp_path):
    """Found by the property above: a buy limit at the last price, sent at a bar close, took
    the next trade one by one but was skipped forever in bulk (judged as a resting limit)."""
    trades = [(T0 + 1 + 30 * k, 117.0, 0.1, "buy") for k in range(12)]
    orders = [[], [], [], [], [("limit", "buy", 0.0)], []]
    broker = {"set_fill_on_touch": False, "set_partial_fills": False, "set_latency": 0.0}
    expected = ([(T0 + 301, "BTC/USDT", 0.5, 117.0, 0.0585)], 1_000.0 - 58.5 - 0.0585, 0.5, 117.0)
    for strategy in (Scripted, ScriptedWatchingTicks):
        fills, cash, size, price, _ = run(strategy, tmp_path, trades, orders, False, broker)
        assert (fills, round(cash, 9), size, price) == expected
