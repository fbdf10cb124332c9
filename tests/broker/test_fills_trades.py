"""Fills against trades (a symbol without a book), prices worked out by hand."""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import pytest

from tests.conftest import T0

SHORTS = {"set_shortcash": False}  # selling without a position is a short: margin mode


def ticks(*prices, volume=1.0, step=1.0):
    return [(T0 + i * step, price, volume, "buy") for i, price in enumerate(prices)]


def buy(**kw):
    return lambda s: s.buy(size=kw.pop("size", 1.0), **kw)


def sell(**kw):
    return lambda s: s.sell(size=kw.pop("size", 1.0), **kw)


def fills(strategy):
    return [(status, price, size, at) for status, price, size, _, at in strategy.orders]


def test_market_order_fills_at_the_next_trade_not_the_one_it_was_sent_on(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 101.0, 102.0), actions={1: buy()})
    assert fills(strategy) == [("Completed", 101.0, 1.0, T0 + 1)]


def test_market_sell_mirrors(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 99.0, 98.0), actions={2: sell(size=2.0)}, broker=SHORTS)
    assert fills(strategy) == [("Completed", 98.0, -2.0, T0 + 2)]


def test_no_fill_on_a_later_trade_of_the_same_timestamp_before_the_order(run_ticks):
    # Both trades at T0: the order sent on the first may fill on the second (after it), never on the first.
    trades = [(T0, 100.0, 1.0, "buy"), (T0, 100.5, 1.0, "sell"), (T0 + 1, 101.0, 1.0, "buy")]
    strategy, _ = run_ticks(trades, actions={1: buy()})
    assert fills(strategy) == [("Completed", 100.5, 1.0, T0)]


def test_resting_buy_limit_fills_at_its_price_only_when_a_trade_prints_below(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 99.5, 99.0, 98.7, 98.0), actions={1: buy(exectype=bt.Order.Limit, price=99.0)})
    # 99.0 only touches the limit; 98.7 goes through it: filled at the limit, not at 98.7
    assert fills(strategy) == [("Completed", 99.0, 1.0, T0 + 3)]


def test_fill_on_touch_fills_a_resting_limit_at_its_price(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 99.5, 99.0, 98.7), actions={1: buy(exectype=bt.Order.Limit, price=99.0)},
                            broker={"set_fill_on_touch": True})
    assert fills(strategy) == [("Completed", 99.0, 1.0, T0 + 2)]


def test_resting_sell_limit_mirrors(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 101.0, 101.4), actions={1: sell(exectype=bt.Order.Limit, price=101.0)}, broker=SHORTS)
    assert fills(strategy) == [("Completed", 101.0, -1.0, T0 + 2)]


def test_marketable_limit_fills_like_a_market_order_at_the_better_trade_price(run_ticks):
    # buy limit 101 while the last trade is 100: marketable; next trade 100.5 <= 101 fills at 100.5
    strategy, _ = run_ticks(ticks(100.0, 100.5, 99.0), actions={1: buy(exectype=bt.Order.Limit, price=101.0)})
    assert fills(strategy) == [("Completed", 100.5, 1.0, T0 + 1)]


def test_marketable_limit_never_fills_worse_than_its_limit(run_ticks):
    # marketable on arrival, but the next trade (102) is above the limit: it rests at 101
    # and later fills at 101 when a trade prints through (100.9)
    strategy, _ = run_ticks(ticks(100.0, 102.0, 101.0, 100.9), actions={1: buy(exectype=bt.Order.Limit, price=101.0)})
    assert fills(strategy) == [("Completed", 101.0, 1.0, T0 + 3)]


def test_buy_stop_triggers_at_or_above_and_fills_at_that_trade(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 101.0, 101.9, 102.3, 103.0), actions={1: buy(exectype=bt.Order.Stop, price=102.0)})
    assert fills(strategy) == [("Completed", 102.3, 1.0, T0 + 3)]


def test_buy_stop_triggers_on_a_trade_exactly_at_the_stop(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 102.0, 103.0), actions={1: buy(exectype=bt.Order.Stop, price=102.0)})
    assert fills(strategy) == [("Completed", 102.0, 1.0, T0 + 1)]


def test_sell_stop_mirrors(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 99.5, 98.8, 98.0), actions={1: sell(exectype=bt.Order.Stop, price=99.0)}, broker=SHORTS)
    assert fills(strategy) == [("Completed", 98.8, -1.0, T0 + 2)]


def test_stop_limit_triggered_above_its_limit_rests_then_fills_at_the_limit(run_ticks):
    order = buy(exectype=bt.Order.StopLimit, price=102.0, plimit=102.5)
    strategy, _ = run_ticks(ticks(100.0, 103.0, 102.6, 102.4), actions={1: order})
    assert fills(strategy) == [("Completed", 102.5, 1.0, T0 + 3)]


def test_stop_limit_triggered_within_its_limit_fills_at_the_trigger_trade(run_ticks):
    order = buy(exectype=bt.Order.StopLimit, price=102.0, plimit=102.5)
    strategy, _ = run_ticks(ticks(100.0, 101.0, 102.2, 102.4), actions={1: order})
    assert fills(strategy) == [("Completed", 102.2, 1.0, T0 + 2)]


def test_cancelled_limit_never_fills(run_ticks):
    actions = {1: buy(exectype=bt.Order.Limit, price=99.0), 2: lambda s: s.cancel(s.last_order)}
    strategy, _ = run_ticks(ticks(100.0, 99.5, 98.0, 97.0), actions=actions)
    assert fills(strategy) == [("Canceled", 0.0, 0.0, T0 + 1)]
    assert strategy.position.size == 0


def test_latency_delays_activation(run_ticks):
    trades = [(T0, 100.0, 1.0, "buy"), (T0 + 0.2, 101.0, 1.0, "buy"), (T0 + 0.6, 102.0, 1.0, "buy")]
    strategy, _ = run_ticks(trades, actions={1: buy()}, broker={"set_latency": 0.5})
    assert fills(strategy) == [("Completed", 102.0, 1.0, T0 + 0.6)]


def test_latency_rejects_a_negative_value():
    from backtrader_channels import TickBroker

    with pytest.raises(ValueError, match="latency"):
        TickBroker().set_latency(-1)


def test_percentage_slippage_moves_market_fills_against_the_trader_but_not_limit_fills(run_ticks):
    actions = {1: buy(), 3: sell(exectype=bt.Order.Limit, price=103.0)}
    strategy, _ = run_ticks(ticks(100.0, 101.0, 102.0, 103.5), actions=actions, broker={"set_slippage_perc": 0.001})
    assert fills(strategy) == [("Completed", pytest.approx(101.0 * 1.001), 1.0, T0 + 1),
                               ("Completed", 103.0, -1.0, T0 + 3)]


def test_partial_fills_are_capped_by_each_trade_volume(run_ticks):
    trades = [(T0, 100.0, 5.0, "buy"), (T0 + 1, 101.0, 1.0, "buy"), (T0 + 2, 102.0, 1.5, "buy"), (T0 + 3, 103.0, 2.0, "buy")]
    strategy, _ = run_ticks(trades, actions={1: buy(size=3.0)}, broker={"set_partial_fills": True})
    # executed size and average price accumulate across the partial fills
    assert fills(strategy) == [
        ("Partial", 101.0, 1.0, T0 + 1),
        ("Partial", pytest.approx((101.0 + 102.0 * 1.5) / 2.5), 2.5, T0 + 2),
        ("Completed", pytest.approx((101.0 + 102.0 * 1.5 + 103.0 * 0.5) / 3.0), 3.0, T0 + 3),
    ]


def test_limit_with_a_validity_expires_when_it_passes(run_ticks):
    order = buy(exectype=bt.Order.Limit, price=90.0, valid=dt.timedelta(seconds=1.5))
    strategy, _ = run_ticks(ticks(100.0, 99.0, 98.0, 97.0), actions={1: order})
    assert [(status, at) for status, _, _, at in fills(strategy)] == [("Expired", T0 + 2)]


def test_sell_trailing_stop_follows_the_price_up_and_fills_at_the_trigger_trade(run_ticks):
    actions = {1: buy(), 2: sell(exectype=bt.Order.StopTrail, trailamount=2.0)}
    strategy, _ = run_ticks(ticks(100.0, 101.0, 105.0, 104.0, 103.0, 102.0), actions=actions)
    # stop starts at 101 - 2 = 99, trails to 105 - 2 = 103 and stays there at 104; 103 triggers
    assert fills(strategy) == [("Completed", 101.0, 1.0, T0 + 1), ("Completed", 103.0, -1.0, T0 + 4)]


def test_trailing_stop_limit_moves_its_limit_with_the_stop(run_ticks):
    order = sell(exectype=bt.Order.StopTrailLimit, price=101.0, plimit=100.5, trailamount=2.0)
    actions = {1: buy(), 2: order}
    strategy, _ = run_ticks(ticks(100.0, 101.0, 105.0, 104.0, 102.0, 102.7), actions=actions)
    # stop 103 / limit 102.5 after 105; 102 triggers below the limit, so it rests at 102.5 and
    # fills there when 102.7 prints through it
    assert fills(strategy) == [("Completed", 101.0, 1.0, T0 + 1), ("Completed", 102.5, -1.0, T0 + 5)]


def test_close_orders_need_bars_and_are_rejected_in_tick_mode(run_ticks):
    strategy, _ = run_ticks(ticks(100.0, 101.0), actions={1: buy(exectype=bt.Order.Close)})
    assert fills(strategy) == [("Rejected", 0.0, 0.0, T0)]
