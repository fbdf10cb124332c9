"""Time in force in tick mode: IOC and FOK orders get one chance to fill, the rest Expired.

Trades are one second apart from T0, 1.0 in size unless said otherwise; the order is sent
on the first event. Each test runs both submission paths (lean and backtrader's own).
"""

from __future__ import annotations

import backtrader as bt
import pytest

from backtrader_channels.broker.data import to_num
from tests.broker.test_bulk_equals_per_event import Scripted, ScriptedWatchingTicks, run
from tests.conftest import T0

ASKS = [[101.0, 1.0], [102.0, 2.0], [103.0, 5.0]]
BIDS = [[100.0, 1.0], [99.0, 3.0]]
BOOK = [(T0, "snapshot", BIDS, ASKS), (T0 + 1, "delta", [[100.0, 2.0]], []), (T0 + 2, "delta", [[100.0, 3.0]], [])]


@pytest.fixture(params=[True, False], ids=["lean", "general"])
def lean(request):
    return request.param


def ticks(*prices, volume=1.0):
    return [(T0 + i, price, volume, "buy") for i, price in enumerate(prices)]


def limit(price, tif, size=1.0, **kw):
    return lambda s: s.buy(size=size, exectype=bt.Order.Limit, price=price, timeInForce=tif, **kw)


def outcomes(strategy):
    return [(status, price, size, at) for status, price, size, _, at in strategy.orders]


def test_ioc_marketable_fills_on_the_next_trade_within_its_limit(run_params, lean):
    strategy, _ = run_params(ticks(100.0, 100.5, 99.0), actions={1: limit(101.0, "IOC")}, lean=lean)
    assert outcomes(strategy) == [("Completed", 100.5, 1.0, T0 + 1)]
    assert strategy.reasons == [None]


def test_ioc_whose_next_trade_is_beyond_its_limit_expires_instead_of_resting(run_params, lean):
    # marketable on arrival (last trade 100 <= 101) but the next print is 102: a GTC limit would
    # rest and fill at 101.0 on the trade at 100.9; the IOC has had its chance at T0+1
    strategy, cerebro = run_params(ticks(100.0, 102.0, 101.0, 100.9), actions={1: limit(101.0, "IOC")}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0 + 1)]
    assert strategy.reasons == ["timeInForce IOC: nothing to take within the limit 101"]
    assert cerebro.broker.fills == [] and strategy.position.size == 0


def test_ioc_not_marketable_on_arrival_expires_at_once(run_params, lean):
    # buy 99 while the last trade is 100: it would rest; an IOC expires where it was sent
    strategy, _ = run_params(ticks(100.0, 98.5, 98.0), actions={1: limit(99.0, "ioc")}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0)]
    assert strategy.reasons == ["timeInForce IOC: not marketable when it arrived (last trade 100, limit 99)"]


def test_ioc_with_partial_fills_takes_the_trades_volume_and_expires_the_rest(run_params, lean):
    trades = [(T0, 100.0, 1.0, "buy"), (T0 + 1, 100.5, 0.4, "buy"), (T0 + 2, 100.2, 5.0, "buy")]
    strategy, cerebro = run_params(trades, actions={1: limit(101.0, "IOC")}, broker={"set_partial_fills": True},
                                   lean=lean)
    assert outcomes(strategy) == [("Partial", 100.5, 0.4, T0 + 1), ("Expired", 100.5, 0.4, T0 + 1)]
    assert strategy.reasons == ["timeInForce IOC: the rest (0.6) expired"]
    assert [(fill.size, fill.price) for fill in cerebro.broker.fills] == [(0.4, 100.5)]
    assert strategy.position.size == 0.4


def test_fok_with_partial_fills_needs_its_whole_size_in_the_trade(run_params, lean):
    trades = [(T0, 100.0, 1.0, "buy"), (T0 + 1, 100.5, 0.4, "buy"), (T0 + 2, 100.2, 5.0, "buy")]
    strategy, _ = run_params(trades, actions={1: limit(101.0, "FOK")}, broker={"set_partial_fills": True}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0 + 1)]
    assert strategy.reasons == ["timeInForce FOK: only 0.4 of 1 to take within the limit"]


def test_fok_fills_whole_when_the_trade_holds_its_size(run_params, lean):
    trades = [(T0, 100.0, 1.0, "buy"), (T0 + 1, 100.5, 2.0, "buy")]
    strategy, _ = run_params(trades, actions={1: limit(101.0, "FOK")}, broker={"set_partial_fills": True}, lean=lean)
    assert outcomes(strategy) == [("Completed", 100.5, 1.0, T0 + 1)]


def test_fok_without_partial_fills_fills_whole_on_any_trade_as_other_orders_do(run_params, lean):
    trades = [(T0, 100.0, 1.0, "buy"), (T0 + 1, 100.5, 0.4, "buy")]
    strategy, _ = run_params(trades, actions={1: limit(101.0, "FOK")}, lean=lean)
    assert outcomes(strategy) == [("Completed", 100.5, 1.0, T0 + 1)]


def test_sell_ioc_mirrors(run_params, lean):
    actions = {1: lambda s: s.sell(size=1.0, exectype=bt.Order.Limit, price=99.0, timeInForce="IOC")}
    strategy, _ = run_params(ticks(100.0, 99.5), actions=actions, broker={"set_shortcash": False}, lean=lean)
    assert outcomes(strategy) == [("Completed", 99.5, -1.0, T0 + 1)]


def test_with_entry_latency_the_chance_is_the_first_trade_once_it_works(run_params, lean):
    # latency 0.5: the order works from the trade at T0+0.6; the last price then is 100.2
    # (marketable), and 100.5 fills it. Without latency 102.0 at T0+0.2 was its chance.
    trades = [(T0, 100.0, 1.0, "buy"), (T0 + 0.2, 102.0, 1.0, "buy"), (T0 + 0.4, 100.2, 1.0, "buy"),
              (T0 + 0.6, 100.5, 1.0, "buy")]
    strategy, _ = run_params(trades, actions={1: limit(101.0, "IOC")}, broker={"set_latency": 0.5}, lean=lean)
    assert outcomes(strategy) == [("Completed", 100.5, 1.0, T0 + 0.6)]
    strategy, _ = run_params(trades, actions={1: limit(101.0, "IOC")}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0 + 0.2)]


def test_stop_limit_ioc_gets_its_chance_when_triggered(run_params, lean):
    def order(s):
        return s.buy(size=1.0, exectype=bt.Order.StopLimit, price=102.0, plimit=102.5, timeInForce="IOC")

    # triggered by 103.0, above its limit: a GTC stop-limit would rest and fill at 102.5 on 102.4
    strategy, _ = run_params(ticks(100.0, 101.0, 103.0, 102.4), actions={1: order}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0 + 2)]
    # triggered by 102.2, within its limit: filled at the trigger trade
    strategy, _ = run_params(ticks(100.0, 101.0, 102.2, 102.4), actions={1: order}, lean=lean)
    assert outcomes(strategy) == [("Completed", 102.2, 1.0, T0 + 2)]


# -- against a book: asks 101 x 1, 102 x 2, 103 x 5; bids 100 x 1, 99 x 3 -----------------------------------------
def test_ioc_against_a_book_walks_the_levels_within_its_limit(run_params, lean):
    strategy, _ = run_params(book=BOOK, actions={1: limit(102.0, "IOC", size=2.0)}, lean=lean)
    assert outcomes(strategy) == [("Completed", pytest.approx((101.0 + 102.0) / 2), 2.0, T0 + 1)]


def test_ioc_against_a_book_takes_what_is_there_and_expires_the_rest(run_params, lean):
    # 3 within 102 (1 @ 101 + 2 @ 102) of the 5 asked; without partial fills a GTC order would wait
    strategy, _ = run_params(book=BOOK, actions={1: limit(102.0, "IOC", size=5.0)}, lean=lean)
    taken = pytest.approx((101.0 + 2 * 102.0) / 3)
    assert outcomes(strategy) == [("Partial", taken, 3.0, T0 + 1), ("Expired", taken, 3.0, T0 + 1)]
    assert strategy.reasons == ["timeInForce IOC: the rest (2) expired"]


def test_fok_against_a_book_needs_its_whole_size_within_its_limit(run_params, lean):
    strategy, _ = run_params(book=BOOK, actions={1: limit(102.0, "FOK", size=5.0)}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0 + 1)]
    assert strategy.reasons == ["timeInForce FOK: only 3 of 5 to take within the limit"]
    strategy, _ = run_params(book=BOOK, actions={1: limit(102.0, "FOK", size=3.0)}, lean=lean)
    assert outcomes(strategy) == [("Completed", pytest.approx((101.0 + 2 * 102.0) / 3), 3.0, T0 + 1)]


def test_ioc_below_the_best_ask_expires_at_once(run_params, lean):
    strategy, _ = run_params(book=BOOK, actions={1: limit(100.5, "IOC")}, lean=lean)
    assert outcomes(strategy) == [("Expired", 0.0, 0.0, T0)]
    assert strategy.reasons == ["timeInForce IOC: not marketable when it arrived (best ask 101, limit 100.5)"]


def test_gtc_given_explicitly_is_the_default_limit(run_params, lean):
    strategy, _ = run_params(ticks(100.0, 102.0, 101.0, 100.9), actions={1: limit(101.0, "GTC")}, lean=lean)
    assert outcomes(strategy) == [("Completed", 101.0, 1.0, T0 + 3)]


@pytest.mark.parametrize("kind", ["ioc", "fok"])
def test_bulk_and_per_event_paths_expire_an_unmarketable_ioc_at_the_same_time(tmp_path, kind):
    # falling prices: a buy 1.0 under the close is not marketable when it arrives at the first bar
    # close; it expires there, not later when a trade first prints through its limit
    trades = [(T0 + 1 + 10 * k, 100.0 - 0.5 * k, 0.5, "buy") for k in range(36)]
    orders = [[(kind, "buy", -1.0)], [], [], [], [], []]
    broker = {"set_fill_on_touch": False, "set_partial_fills": False, "set_latency": 0.0}
    expected = ([], 1_000.0, 0, 0.0, [("Expired", 0, to_num(T0 + 60))])  # the first bar's close
    for strategy in (Scripted, ScriptedWatchingTicks):
        assert run(strategy, tmp_path, trades, orders, False, broker) == expected
