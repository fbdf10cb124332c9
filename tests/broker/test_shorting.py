"""Spot shorts are refused in tick mode; backtrader's margin modes allow shorts they can pay for;
a negative commission needs set_maker_rebate(True)."""

from __future__ import annotations

import backtrader as bt
import pytest

from tests.conftest import T0


def ticks(*prices):
    return [(T0 + i, price, 1.0, "buy") for i, price in enumerate(prices)]


def outcomes(strategy):
    return [(status, price, size) for status, price, size, _, _ in strategy.orders]


def reasons(cerebro):
    (strategy,) = cerebro.runstrats[0]
    return strategy.refusals


def test_a_spot_short_is_refused_and_the_value_stays(run_ticks):
    strategy, cerebro = run_ticks(ticks(10.0, 10.0, 11.0), cash=1_000.0, actions={1: lambda s: s.sell(size=100)})
    assert outcomes(strategy) == [("Margin", 0.0, 0)]
    assert reasons(cerebro) == ["spot: cannot sell 100 without holding the asset (held 0)"]
    assert cerebro.broker.getvalue() == 1_000.0
    assert cerebro.broker.getposition(cerebro.broker.market_of("BTC/USDT").data).size == 0


def test_a_spot_sell_may_close_what_is_held_but_not_more(run_ticks):
    actions = {
        1: lambda s: s.buy(size=2),        # fills at 100 on the second trade
        3: lambda s: s.sell(size=3),       # more than held: refused
        4: lambda s: s.sell(size=2),       # closes: fills at 103 on the fifth trade
    }
    strategy, cerebro = run_ticks(ticks(100.0, 100.0, 101.0, 102.0, 103.0, 104.0), cash=1_000.0, actions=actions)
    assert outcomes(strategy) == [("Completed", 100.0, 2.0), ("Margin", 0.0, 0), ("Completed", 103.0, -2.0)]
    assert reasons(cerebro) == ["spot: cannot sell 3: 2 of the 2 held is not already being sold"]
    assert cerebro.broker.getvalue() == 1_006.0


def test_working_sells_use_up_the_holding_but_an_oco_pair_counts_once(run_ticks):
    def exits(s):
        take = s.sell(size=1, exectype=bt.Order.Limit, price=110.0)
        s.sell(size=1, exectype=bt.Order.Stop, price=90.0, oco=take)   # same holding, one group
        s.sell(size=1, exectype=bt.Order.Limit, price=120.0)           # a second exit: nothing left

    strategy, cerebro = run_ticks(ticks(100.0, 100.0, 101.0, 111.0), cash=1_000.0,
                                  actions={1: lambda s: s.buy(size=1), 2: exits})
    assert outcomes(strategy) == [("Completed", 100.0, 1.0), ("Margin", 0.0, 0),
                                  ("Completed", 110.0, -1.0), ("Canceled", 0.0, 0)]
    assert reasons(cerebro) == ["spot: cannot sell 1: 0 of the 1 held is not already being sold"]


def test_a_bracket_on_a_buy_is_not_a_short(run_ticks):
    bracket = {1: lambda s: s.buy_bracket(size=1, exectype=bt.Order.Market, limitprice=103.0, stopprice=97.0)}
    strategy, _ = run_ticks(ticks(100.0, 100.0, 101.0, 104.0), cash=1_000.0, actions=bracket)
    assert outcomes(strategy) == [("Completed", 100.0, 1.0), ("Completed", 103.0, -1.0), ("Canceled", 0.0, 0)]


def test_shortcash_false_allows_shorts_the_cash_covers(run_ticks):
    # a short locks its value in cash: 100 x 10 = 1,000 fits, 101 does not
    for size, expected in ((100, [("Completed", 10.0, -100.0)]), (101, [("Margin", 0.0, 0)])):
        strategy, cerebro = run_ticks(ticks(10.0, 10.0, 9.0), cash=1_000.0, broker={"set_shortcash": False},
                                      actions={1: lambda s, size=size: s.sell(size=size)})
        assert outcomes(strategy) == expected
    assert cerebro.broker.getvalue() == 1_000.0


def test_futures_margin_is_checked_for_shorts(run_ticks):
    # setcommission(margin=100): a futures-like asset, each contract (long or short) locks 100
    for size, expected in ((10, [("Completed", 50.0, -10.0)]), (11, [("Margin", 0.0, 0)])):
        strategy, _ = run_ticks(ticks(50.0, 50.0, 49.0), cash=1_000.0, broker={"setcommission": (0.0, 100.0, 1.0)},
                                actions={1: lambda s, size=size: s.sell(size=size)})
        assert outcomes(strategy) == expected


def test_a_negative_commission_needs_set_maker_rebate(run_ticks):
    round_trip = {1: lambda s: s.buy(size=1), 3: lambda s: s.sell(size=1)}
    with pytest.raises(ValueError, match=r"commission is negative \(-0.001\): a maker rebate; allow it with "
                                         r"cerebro.broker.set_maker_rebate\(True\)"):
        run_ticks(ticks(100.0, 100.0, 101.0, 101.0), cash=1_000.0, commission=-0.001, actions=round_trip)

    strategy, cerebro = run_ticks(ticks(100.0, 100.0, 101.0, 101.0), cash=1_000.0, commission=-0.001,
                                  broker={"set_maker_rebate": True}, actions=round_trip)
    # paid: -0.1 on the buy at 100, -0.101 on the sell at 101
    assert [comm for _, _, _, comm, _ in strategy.orders] == [pytest.approx(-0.1), pytest.approx(-0.101)]
    assert cerebro.broker.getvalue() == pytest.approx(1_001.201)
