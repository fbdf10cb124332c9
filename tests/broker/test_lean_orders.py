"""Property: lone orders on the lean path (``lean_orders``, the default) and the same orders
through backtrader's general BackBroker machinery give the same run: the same order and
trade notifications with the same fields, cash, value, positions and fills."""

from __future__ import annotations

import datetime
import math
import tempfile
from pathlib import Path

import backtrader as bt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backtrader_channels as bc
from backtrader_channels import seam
from backtrader_channels.broker.market import Market
from tests.conftest import T0, write_trades_csv

KINDS = {"market": bt.Order.Market, "limit": bt.Order.Limit, "stop": bt.Order.Stop, "stoplimit": bt.Order.StopLimit}
ACTION = st.one_of(
    st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(sorted(KINDS)), st.sampled_from([0.5, 1.0, 3.0]),
              st.integers(-4, 4).map(lambda ticks: ticks * 0.5)),
    st.tuples(st.sampled_from(["close", "half", "reverse", "cancel", "explicit", "bracket", "valid"]), st.just(""),
              st.just(0.0), st.just(0.0)),
)
COMMISSIONS = st.sampled_from([None, {"commission": 0.001}, {"commission": 2.0, "margin": 50.0, "mult": 2.0},
                               {"commission": 0.002, "leverage": 2.0}])


@st.composite
def scenario(draw):
    n = draw(st.integers(3, 40))
    steps = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
    gaps = draw(st.lists(st.sampled_from([0.0, 0.25, 1.0, 90.0]), min_size=n, max_size=n))
    trades, now, price = [], T0 + 1, 100.0
    for i, (step, gap) in enumerate(zip(steps, gaps)):
        now, price = now + gap, price + 0.5 * step
        trades.append((now, price, 1.0, "buy" if i % 3 else "sell"))
    actions = draw(st.dictionaries(st.integers(1, n), st.lists(ACTION, min_size=1, max_size=3), max_size=n))
    broker = {"cash": draw(st.sampled_from([150.0, 1_000.0, 100_000.0])), "commission": draw(COMMISSIONS),
              "shortcash": draw(st.booleans()), "fill_on_touch": draw(st.booleans()),
              "response_latency": draw(st.sampled_from([0.0, 0.0, 1.0])), "analyzer": draw(st.booleans())}
    return trades, actions, broker


def _order_fields(order, first_ref):
    created, executed = order.created, order.executed
    return (order.ref - first_ref, order.getstatusname(), order.isbuy(), order.exectype, order.size, order.price,
            order.pricelimit, order.tradeid, order.dteos, order.plimit, order.alive(), dict(order.info),
            (created.dt, created.size, created.price, created.pricelimit, created.pclose),
            (executed.dt, executed.size, executed.remsize, executed.price, executed.value, executed.comm,
             executed.pnl, executed.psize, executed.pprice, executed.margin),
            [(bit.dt, bit.size, bit.price, bit.closed, bit.opened, bit.comm, bit.pnl) for bit in executed.iterpending()],
            type(order.comminfo).__name__)


class Replayed(bt.Strategy):
    """Sends ``actions[n]`` at the n-th trade and records every notification as plain values."""

    params = (("actions", None),)

    def __init__(self):
        self.n = 0
        self.first_ref = None
        self.log = []
        self.open = []

    def notify_tick(self, tick):
        self.n += 1
        for action, kind, size, offset in self.p.actions.get(self.n, ()):
            order = self._send(action, kind, size, tick.price + offset)
            if order is not None:
                self.first_ref = order.ref if self.first_ref is None else self.first_ref
                self.open.append(order)

    def _send(self, action, kind, size, price):
        held = self.position.size
        if action in ("buy", "sell"):
            place = self.buy if action == "buy" else self.sell
            limit = price + (0.5 if action == "buy" else -0.5) if kind == "stoplimit" else None
            return place(size=size, exectype=KINDS[kind], price=None if kind == "market" else price, plimit=limit,
                         tradeid=self.n % 2, note=self.n)
        if action == "explicit":  # exectype given, even as Market: kept in the order's params
            return self.buy(size=1.0, exectype=bt.Order.Market)
        if action == "bracket":  # through backtrader's submission; filled on the lean path
            return self.buy_bracket(size=1.0, price=price - 0.5, stopprice=price - 2.0, limitprice=price + 1.0)[0]
        if action == "valid":
            return self.buy(size=1.0, exectype=bt.Order.Limit, price=price - 0.5, valid=datetime.timedelta(seconds=30))
        if action == "cancel":
            working = [order for order in self.open if order.alive()]
            if working:
                self.cancel(working[0])
            return None
        if not held:
            return None
        size = {"close": abs(held), "half": abs(held) / 2, "reverse": 2 * abs(held)}[action]
        return self.sell(size=size, tradeid=1) if held > 0 else self.buy(size=size, tradeid=1)

    def notify_order(self, order):
        self.log.append(("order", self.event_time, _order_fields(order, self.first_ref),
                         self.broker.getcash(), self.broker.getvalue(), self.position.size, self.position.price))

    def notify_trade(self, trade):
        self.log.append(("trade", self.event_time, trade.status, trade.tradeid, trade.size,
                         trade.price, trade.value, trade.commission, trade.pnl, trade.pnlcomm, trade.isopen,
                         trade.isclosed, trade.justopened, trade.baropen, trade.dtopen, trade.barclose,
                         trade.dtclose))


class Echo(bt.Analyzer):
    """Records what an analyzer is told of orders and trades."""

    def start(self):
        self.seen = []

    def notify_order(self, order):
        self.seen.append(("order", order.getstatusname(), order.executed.size, order.executed.price))

    def notify_trade(self, trade):
        self.seen.append(("trade", trade.status, trade.size, trade.pnl, trade.pnlcomm))

    def get_analysis(self):
        return self.seen


def run(path: Path, actions: dict, broker: dict, lean: bool):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(broker["cash"])
    if broker["commission"] is not None:
        cerebro.broker.setcommission(**broker["commission"])
    cerebro.broker.set_shortcash(broker["shortcash"])
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    cerebro.broker.set_fill_on_touch(broker["fill_on_touch"])
    cerebro.broker.set_latency(0.0, broker["response_latency"])
    cerebro.broker.p.lean_orders = lean
    cerebro.addstrategy(Replayed, actions=actions)
    if broker.get("analyzer"):
        cerebro.addanalyzer(Echo, _name="echo")
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    result = cerebro.tick_result
    first = strategy.first_ref or 0
    fills = [(f.timestamp, f.size, f.price, f.commission, f.order_ref - first) for f in result.fills]
    equity = list(zip(result.equity_times.tolist(), result.equity_values.tolist(), result.prices.tolist()))
    position = cerebro.broker.getposition(strategy.data if strategy.datas else None)
    echoed = strategy.analyzers.echo.get_analysis() if broker.get("analyzer") else None
    return (strategy.log, echoed, fills, equity, cerebro.broker.getcash(), cerebro.broker.getvalue(),
            (position.size, position.price), result.trades_closed, result.trades_won)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_lean_orders_give_the_same_run_as_backtraders_own_submission(case):
    trades, actions, broker = case
    with tempfile.TemporaryDirectory() as folder:
        path = write_trades_csv(Path(folder) / "trades.csv", trades)
        lean = run(path, actions, broker, lean=True)
        general = run(path, actions, broker, lean=False)
    assert lean == general


def test_the_property_sees_orders_fill_refused_and_cancelled():
    """The replayed strategy does produce fills, margin refusals, cancels and closed trades."""
    trades = [(T0 + i, 100.0 + i % 3, 1.0, "buy") for i in range(8)]
    actions = {1: [("buy", "market", 3.0, 0.0)], 2: [("buy", "limit", 1.0, -5.0)], 3: [("cancel", "", 0.0, 0.0)],
               4: [("half", "", 0.0, 0.0)], 5: [("buy", "market", 50.0, 0.0)], 6: [("close", "", 0.0, 0.0)]}
    broker = {"cash": 1_000.0, "commission": {"commission": 0.001}, "shortcash": True, "fill_on_touch": False,
              "response_latency": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        path = write_trades_csv(Path(folder) / "trades.csv", trades)
        log, _, fills, *_ = run(path, actions, broker, lean=True)
    statuses = [entry[2][1] for entry in log if entry[0] == "order"]
    assert statuses == ["Submitted", "Accepted", "Completed", "Submitted", "Accepted", "Canceled",
                        "Submitted", "Accepted", "Completed", "Submitted", "Margin",
                        "Submitted", "Accepted", "Completed"]
    assert [(size, price) for _, size, price, _, _ in fills] == [(3.0, 101.0), (-1.5, 101.0), (-1.5, 100.0)]
    closed = [(entry[4], entry[8]) for entry in log if entry[0] == "trade" and entry[11]]
    assert closed == [(0.0, pytest.approx(1.5 * (101.0 - 101.0) + 1.5 * (100.0 - 101.0)))]  # pnl: -1.5


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([bt.BuyOrder, bt.SellOrder]), st.sampled_from([None, *KINDS.values()]),
       st.floats(0.001, 1e4), st.one_of(st.none(), st.floats(1.0, 1e5)), st.one_of(st.none(), st.floats(1.0, 1e5)),
       st.floats(0.0, 86400.0 * 3), st.sampled_from([0, 1, "x"]), st.booleans())
def test_new_order_is_the_order_backtrader_builds(cls, exectype, size, price, plimit, seconds, tradeid, histnotify):
    market = Market.create("BTC/USDT", bt.Cerebro())
    timestamp = T0 + seconds
    market.data.mark(timestamp, 100.0)
    fast = seam.new_order(cls, None, market.data, size, price, plimit, exectype, tradeid, histnotify)
    slow = cls(owner=None, data=market.data, size=size, price=price, pricelimit=plimit, exectype=exectype,
               valid=None, tradeid=tradeid, trailamount=None, trailpercent=None, parent=None, transmit=True,
               histnotify=histnotify)
    assert fast.ref == slow.ref - 1
    assert type(fast.params) is type(slow.params) and vars(fast.params) == vars(slow.params)
    fields, expected = vars(fast).copy(), vars(slow).copy()
    for name in ("ref", "params", "p", "created", "executed", "info"):
        del fields[name], expected[name]
    assert fields == expected
    assert (vars(fast.created) | {"exbits": None}) == (vars(slow.created) | {"exbits": None})
    assert (vars(fast.executed) | {"exbits": None}) == (vars(slow.executed) | {"exbits": None})
    assert fast.info == slow.info == {} and type(fast.info) is type(slow.info)


def test_end_of_session_near_midnight_is_backtraders():
    market = Market.create("BTC/USDT", bt.Cerebro())
    for seconds in (0.0, 1e-7, 0.5, 86399.0, 86399.99999, 86400.0 - 1e-7, 86400.0, 86400.5):
        market.data.mark(T0 + seconds, 100.0)
        fast = seam.new_order(bt.BuyOrder, None, market.data, 1.0, None, None, None, 0, False)
        slow = bt.BuyOrder(owner=None, data=market.data, size=1.0)
        assert fast.dteos == slow.dteos and not math.isnan(fast.dteos)


@pytest.mark.parametrize(("kwargs", "filled"), [
    ({"valid": datetime.timedelta(seconds=60)}, [98.5, 97.5]),
    ({"oco": "first"}, [98.5]),  # the second is cancelled when the first fills
    ({"trailamount": 1.0}, [99.0, 98.5]),  # a buy stop trailing 1 above the falling price triggers at 99
    ({"transmit": False}, [98.5, 97.5]),  # held until its bracket child is sent
])
def test_orders_the_lean_path_does_not_take_go_through_backtrader(run_ticks, kwargs, filled):
    trades = [(T0 + i, 100.0 - i, 1.0, "sell") for i in range(6)]

    def send(strategy):
        first = strategy.buy(size=1.0, exectype=bt.Order.Limit, price=98.5)
        extra = {**kwargs, "oco": first} if "oco" in kwargs else dict(kwargs)
        exectype = bt.Order.StopTrail if "trailamount" in extra else bt.Order.Limit
        second = strategy.buy(size=1.0, exectype=exectype, price=97.5, **extra)
        if extra.get("transmit") is False:
            strategy.buy(size=1.0, exectype=bt.Order.Limit, price=90.0, parent=second)
        return second

    strategy, _ = run_ticks(trades, actions={1: send})
    assert [price for status, price, *_ in strategy.orders if status == "Completed"] == filled
