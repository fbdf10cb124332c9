"""Random order scripts on random trade (and book) streams, and everything a user sees of
their run: each order notification (status, executed price, size, value, commission, pnl,
time), the fills, cash, value, position, the observers' lines and the analyzers' results.

``python -m tests.broker.golden_runs`` records these runs into ``data/golden_runs.json.gz``;
test_orders_equal_golden_runs.py replays them and asserts the same outcome to the last digit,
so a faster order path (matching, sampling, order objects) is held to the behaviour of the
code that recorded them (recorded with the code of commit a40b77a, before the order-path speedups; bar cases act in
``next`` only, so trades no order can react to are taken in bulk).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import backtrader as bt

import backtrader_channels as bc
from tests.conftest import T0, write_book_jsonl, write_minute_bars, write_trades_csv

GOLDEN = Path(__file__).parent / "data" / "golden_runs.json.gz"
CASES = 200
KINDS = ("market", "limit", "limit", "far-limit", "stop", "stoplimit", "trail", "cancel", "cancel-any", "bracket",
         "oco", "close", "quote")


def make_case(seed: int) -> dict:
    """One random case: a trade stream (a random walk on a 0.5 grid), perhaps a book on the
    same symbol, broker settings, and a script of actions keyed by event number."""
    rng = random.Random(seed)
    n = rng.randint(20, 160)
    now, price, trades = T0 + 1, 100.0, []
    for i in range(n):
        now += rng.choice([0.0, 0.5, 1.0, 7.0, 30.0])
        price += 0.5 * rng.randint(-2, 2)
        trades.append((now, price, rng.choice([0.1, 0.5, 2.0]), "buy" if i % 3 else "sell"))
    book = None
    if rng.random() < 0.3:  # a book on the same symbol: a spread of 1 around a random walk
        mid, book = 100.0, []
        for k in range(rng.randint(5, 40)):
            mid += 0.5 * rng.randint(-2, 2)
            book.append((T0 + 1.5 + 13 * k, "snapshot", [[mid - 0.5, 1.0], [mid - 1.0, 2.0]],
                         [[mid + 0.5, 1.0], [mid + 1.0, 2.0]]))
    bars = rng.random() < 0.3  # the script plays on bar closes (the bulk path) instead of on events
    events = int((now - T0) // 60) + 1 if bars else n + (len(book) if book else 0)
    script: dict[int, list] = {}
    for _ in range(rng.randint(1, 25)):
        event = rng.randint(1, events)
        script.setdefault(event, []).append((rng.choice(KINDS), rng.choice(["buy", "sell"]), rng.randint(-6, 6) * 0.5))
    broker = {"fill_on_touch": rng.random() < 0.5, "partial_fills": rng.random() < 0.5,
              "latency": rng.choice([0.0, 0.0, 5.0])}
    return {"seed": seed, "trades": trades, "book": book, "script": {str(k): v for k, v in script.items()},
            "broker": broker, "bars": bars}


class Scripted(bt.Strategy):
    """Plays a case's script on each bar (``on_bars``), or on each event (``ScriptedOnEvents``)."""

    params = (("script", None), ("on_bars", False))

    def __init__(self) -> None:
        self.n = 0
        self.last: Any = None
        self.first_ref: int | None = None
        self.seen: list = []

    def notify_order(self, order: Any) -> None:
        if self.first_ref is None:
            self.first_ref = order.ref
        e, c = order.executed, order.created
        self.seen.append(("order", order.ref - self.first_ref, order.getstatusname(), order.ordtypename(),
                          order.getordername(), c.size, c.price, e.size, e.price, e.value, e.comm, e.pnl, e.dt,
                          order.alive(), order.info.get("reason")))

    def notify_trade(self, trade: Any) -> None:
        self.seen.append(("trade", trade.status, trade.size, trade.price, trade.pnl, trade.pnlcomm, trade.commission))

    def next(self) -> None:
        if self.p.on_bars:
            self._act(self.data.close[0])

    def _act(self, price: float) -> None:
        self.n += 1
        for kind, side, offset in self.p.script.get(str(self.n), ()):
            self._do(kind, side, price, offset)

    def _do(self, kind: str, side: str, close: float, offset: float) -> None:
        send = self.buy if side == "buy" else self.sell
        sign = -1.0 if side == "buy" else 1.0  # offsets away from the market for the side's limits
        if kind == "market":
            self.last = send(size=0.5)
        elif kind == "limit":
            self.last = send(size=0.5, exectype=bt.Order.Limit, price=close + offset)
        elif kind == "far-limit":
            self.last = send(size=0.1, exectype=bt.Order.Limit, price=close + sign * (20 + abs(offset)))
        elif kind == "stop":
            self.last = send(size=0.5, exectype=bt.Order.Stop, price=close - sign * (abs(offset) + 0.5))
        elif kind == "stoplimit":
            stop = close - sign * (abs(offset) + 0.5)
            self.last = send(size=0.5, exectype=bt.Order.StopLimit, price=stop, plimit=stop + offset)
        elif kind == "trail":
            self.last = send(size=0.5, exectype=bt.Order.StopTrail, trailamount=abs(offset) + 0.5)
        elif kind == "cancel" and self.last is not None:
            self.cancel(self.last)
        elif kind == "cancel-any":
            alive = [o for o in self.broker.orders if o.alive()]
            if alive:
                self.cancel(alive[len(alive) // 2])
        elif kind == "bracket":
            bracket = self.buy_bracket if side == "buy" else self.sell_bracket
            width = abs(offset) + 1.0
            orders = bracket(size=0.5, price=close + offset / 2, exectype=bt.Order.Limit,
                             stopprice=close + sign * width, limitprice=close - sign * width)
            self.last = orders[0]
        elif kind == "oco":
            first = send(size=0.5, exectype=bt.Order.Limit, price=close + sign * (abs(offset) + 0.5))
            self.last = send(size=0.5, exectype=bt.Order.Stop, price=close - sign * (abs(offset) + 0.5), oco=first)
        elif kind == "close":
            self.close()
        elif kind == "quote":  # a market maker's move: cancel the working quotes, bid and ask again
            for order in list(self.broker.orders):
                if order.alive() and order.exectype == bt.Order.Limit and order.info.get("quote"):
                    self.cancel(order)
            width = abs(offset) + 0.5
            self.buy(size=0.2, exectype=bt.Order.Limit, price=close - width, quote=True)
            self.sell(size=0.2, exectype=bt.Order.Limit, price=close + width, quote=True)


class ScriptedOnEvents(Scripted):
    """``Scripted`` acting on each trade and book update: every event takes the per-event path
    (without these callbacks, trades no order can react to are taken in bulk)."""

    def notify_tick(self, tick: Any) -> None:
        self._act(tick.price)

    def notify_orderbook(self, book: Any) -> None:
        mid = book.mid_price
        self._act(mid if mid is not None else 100.0)


def _plain(value: Any) -> Any:
    """Analyzer results (AutoOrderedDicts, datetimes as keys) as JSON values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def run_case(case: dict) -> dict:
    """Run one case in tick mode; all of its outcome as JSON values."""
    with tempfile.TemporaryDirectory() as folder:
        cerebro = bt.Cerebro(stdstats=True)
        cerebro.broker.setcash(10_000.0)
        cerebro.broker.setcommission(commission=0.001)
        cerebro.broker.set_shortcash(False)  # quotes on both sides may go short: margin mode
        trades = [tuple(row) for row in case["trades"]]
        if case["bars"]:
            minutes = int((trades[-1][0] - T0) // 60) + 1
            closes = [next((p for t, p, _, _ in reversed(trades) if t <= T0 + 60 * (i + 1)), 100.0)
                      for i in range(minutes)]
            cerebro.adddata(bt.feeds.GenericCSVData(
                dataname=str(write_minute_bars(Path(folder) / "bars.csv", closes)), dtformat="%Y-%m-%d %H:%M:%S",
                timeframe=bt.TimeFrame.Minutes, openinterest=-1), name="BTC/USDT")
        if case["book"]:
            cerebro.add_channel(bc.OrderBookChannel, symbol="BTC/USDT",
                                dataname=write_book_jsonl(Path(folder) / "book.jsonl", case["book"]))
        cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT",
                            dataname=write_trades_csv(Path(folder) / "trades.csv", trades))
        settings = case["broker"]
        cerebro.broker.set_fill_on_touch(settings["fill_on_touch"])
        cerebro.broker.set_partial_fills(settings["partial_fills"])
        cerebro.broker.set_latency(settings["latency"])
        cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
        cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
        cerebro.addanalyzer(bt.analyzers.Returns, _name="returns")
        cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="timereturn", timeframe=bt.TimeFrame.Minutes)
        cerebro.addanalyzer(bt.analyzers.SQN, _name="sqn")
        cerebro.addanalyzer(bt.analyzers.Transactions, _name="transactions")
        cerebro.addstrategy(Scripted if case["bars"] else ScriptedOnEvents, script=case["script"], on_bars=case["bars"])
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
        broker = cerebro.broker
        position = broker.getposition(strategy.data)
        observers = {type(o).__name__: [list(line.array) for line in o.lines] for o in strategy.observers}
        return _plain({
            "seen": strategy.seen,
            "fills": [(f.timestamp, f.symbol, f.size, f.price, f.commission) for f in broker.fills],
            "cash": broker.getcash(), "value": broker.getvalue(), "position": (position.size, position.price),
            "steps": len(strategy), "observers": observers,
            "analyzers": {a: strategy.analyzers.getbyname(a).get_analysis()
                          for a in ("trades", "drawdown", "returns", "timereturn", "sqn", "transactions")},
        })


def record() -> None:
    """Record every case's outcome with the code on the path."""
    cases = [make_case(seed) for seed in range(CASES)]
    GOLDEN.parent.mkdir(exist_ok=True)
    with gzip.open(GOLDEN, "wt") as handle:
        json.dump([{"case": case, "outcome": run_case(case)} for case in cases], handle)


def recorded() -> list[dict]:
    """The recorded cases and their outcomes."""
    with gzip.open(GOLDEN, "rt") as handle:
        return json.load(handle)


if __name__ == "__main__":
    record()
    sys.exit(0)
