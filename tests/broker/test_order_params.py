"""Order parameters: parsing and refusals, ccxt params for Binance spot and futures, and
post-only and reduce-only orders in tick mode (both submission paths)."""

from __future__ import annotations

import backtrader as bt
import ccxt
import numpy as np
import pytest

import backtrader_channels as bc
from backtrader_channels.broker.data import ChannelData
from backtrader_channels.broker.order_params import (
    BINANCE_SPOT,
    BINANCE_USDM,
    Capabilities,
    OrderParams,
    OrderParamsError,
    ccxt_params,
    parse,
)
from backtrader_channels.testing.futures import perpetual_info
from tests.broker.conftest import Outcomes
from tests.conftest import T0, write_trades_csv

BOOK = [(T0, "snapshot", [[100.0, 1.0], [99.0, 3.0]], [[101.0, 1.0], [102.0, 2.0]]),
        (T0 + 1, "delta", [[100.0, 2.0]], []),
        (T0 + 2, "delta", [[100.0, 0.0]], [[100.2, 1.0]])]  # an ask at 100.2 under a bid resting at 100.5
MARGIN = {"set_shortcash": False}  # shorts lock cash: a position can be reversed


@pytest.fixture(params=[True, False], ids=["lean", "general"])
def lean(request):
    return request.param


def order(exectype=bt.Order.Limit, **info):
    """A real backtrader buy order carrying ``info`` as a strategy's keyword arguments would."""
    made = bt.BuyOrder(data=ChannelData("BTC/USDT"), size=1.0, price=100.0, pricelimit=100.0, exectype=exectype,
                       simulated=True)
    made.addinfo(**info)
    return made


def ticks(*prices):
    return [(T0 + i, price, 1.0, "buy") for i, price in enumerate(prices)]


def outcomes(strategy):
    return [(status, price, size, at) for status, price, size, _, at in strategy.orders]


# -- parse ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("exectype", "info", "expected"), [
    (bt.Order.Market, {}, OrderParams()),
    (bt.Order.Limit, {}, OrderParams("GTC")),
    (bt.Order.Limit, {"timeInForce": "IOC"}, OrderParams("IOC")),
    (bt.Order.Limit, {"timeInForce": "fok"}, OrderParams("FOK")),  # case-insensitive, as ccxt reads it
    (bt.Order.StopLimit, {"timeInForce": "IOC"}, OrderParams("IOC")),
    (bt.Order.Limit, {"postOnly": True}, OrderParams("GTC", post_only=True)),
    (bt.Order.Limit, {"postOnly": np.True_, "timeInForce": "GTC"}, OrderParams("GTC", post_only=True)),
    (bt.Order.Market, {"reduceOnly": True}, OrderParams(reduce_only=True)),
    (bt.Order.Stop, {"reduceOnly": True, "postOnly": None}, OrderParams(reduce_only=True)),  # None: not given
    (bt.Order.Limit, {"name": "take-profit", "reason": "mine"}, OrderParams("GTC")),  # other info left alone
])
def test_parse_reads_the_parameters_of_an_order(exectype, info, expected):
    assert parse(order(exectype, **info)) == expected


@pytest.mark.parametrize(("exectype", "info", "message"), [
    (bt.Order.Limit, {"timeInForce": "GTD"},
     "timeInForce 'GTD' is not supported: use one of 'GTC', 'IOC', 'FOK' (for an order that expires at a time "
     "use backtrader's valid=)"),
    (bt.Order.Limit, {"timeInForce": "GTX"},
     "timeInForce 'GTX' is not supported: use one of 'GTC', 'IOC', 'FOK' (for a post-only order use postOnly=True)"),
    (bt.Order.Limit, {"timeInForce": 1}, "timeInForce must be one of 'GTC', 'IOC', 'FOK' (a string), got 1 (int)"),
    (bt.Order.Limit, {"postOnly": "yes"}, "postOnly must be True or False, got 'yes' (str)"),
    (bt.Order.Market, {"reduceOnly": 1}, "reduceOnly must be True or False, got 1 (int)"),
    (bt.Order.Limit, {"postOnly": True, "timeInForce": "IOC"},
     "postOnly cannot be combined with timeInForce 'IOC': a post-only order rests on the book, an IOC or FOK "
     "order never does"),
    (bt.Order.Market, {"postOnly": True}, "postOnly applies to Limit orders only, not to a Market order"),
    (bt.Order.StopLimit, {"postOnly": True}, "postOnly applies to Limit orders only, not to a StopLimit order"),
    (bt.Order.Market, {"timeInForce": "IOC"},
     "timeInForce applies to orders with a limit price (Limit, StopLimit, StopTrailLimit), not to a Market order"),
    (bt.Order.Stop, {"timeInForce": "GTC"},
     "timeInForce applies to orders with a limit price (Limit, StopLimit, StopTrailLimit), not to a Stop order"),
    (bt.Order.Limit, {"post_only": True}, "unknown order parameter 'post_only': did you mean postOnly?"),
    (bt.Order.Limit, {"time_in_force": "IOC"}, "unknown order parameter 'time_in_force': did you mean timeInForce?"),
    (bt.Order.Limit, {"tif": "IOC"}, "unknown order parameter 'tif': did you mean timeInForce?"),
    (bt.Order.Market, {"ReduceOnly": True}, "unknown order parameter 'ReduceOnly': did you mean reduceOnly?"),
])
def test_parse_refuses_what_it_cannot_honour_naming_the_parameter(exectype, info, message):
    with pytest.raises(OrderParamsError) as refused:
        parse(order(exectype, **info))
    assert str(refused.value) == message


# -- ccxt params --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "capabilities", "expected"), [
    (OrderParams(), BINANCE_SPOT, {}),
    (OrderParams("GTC"), BINANCE_SPOT, {"timeInForce": "GTC"}),
    (OrderParams("IOC"), BINANCE_SPOT, {"timeInForce": "IOC"}),
    (OrderParams("FOK"), BINANCE_USDM, {"timeInForce": "FOK"}),
    (OrderParams("GTC", post_only=True), BINANCE_SPOT, {"postOnly": True}),
    (OrderParams("GTC", post_only=True), BINANCE_USDM, {"postOnly": True}),
    (OrderParams(reduce_only=True), BINANCE_USDM, {"reduceOnly": True}),
    (OrderParams("IOC", reduce_only=True), BINANCE_USDM, {"timeInForce": "IOC", "reduceOnly": True}),
])
def test_ccxt_params_carry_every_parameter(params, capabilities, expected):
    assert ccxt_params(params, capabilities) == expected


def test_ccxt_params_refuse_what_the_venue_does_not_take():
    with pytest.raises(OrderParamsError, match=r"^reduceOnly is not supported on Binance spot: there is no position "
                                               r"to reduce \(sell what you hold instead\)$"):
        ccxt_params(OrderParams(reduce_only=True), BINANCE_SPOT)
    only_gtc = Capabilities("a venue", frozenset({"GTC"}), post_only=False)
    with pytest.raises(OrderParamsError, match=r"^timeInForce 'IOC' is not supported on a venue: use one of 'GTC'$"):
        ccxt_params(OrderParams("IOC"), only_gtc)
    with pytest.raises(OrderParamsError, match=r"^postOnly is not supported on a venue$"):
        ccxt_params(OrderParams("GTC", post_only=True), only_gtc)


@pytest.fixture(scope="module")
def binance():
    """ccxt's real Binance client with a spot and a USD-M market parsed from exchangeInfo entries
    (as the local test exchanges serve them); building a request needs no network."""
    exchange = ccxt.binance({"options": {"crossMarginPairsData": [], "isolatedMarginPairsData": []}})
    spot = {
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8, "quoteAsset": "USDT",
        "quotePrecision": 8, "quoteAssetPrecision": 8, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                       "TAKE_PROFIT_LIMIT"],
        "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"}],
        "permissions": [], "permissionSets": [["SPOT"]],
    }
    exchange.set_markets([exchange.parse_market(spot), exchange.parse_market(perpetual_info("BTC/USDT:USDT"))])
    return exchange


def request(exchange, symbol, info, exectype=bt.Order.Limit):
    capabilities = Capabilities.of_market(exchange.market(symbol))
    kind = "limit" if exectype == bt.Order.Limit else "market"
    sent = exchange.create_order_request(symbol, kind, "buy", 1.0, 100.0 if kind == "limit" else None,
                                         ccxt_params(parse(order(exectype, **info)), capabilities))
    return {key: sent.get(key) for key in ("type", "timeInForce", "reduceOnly")}


def test_ccxt_sends_post_only_as_limit_maker_on_spot_and_gtx_on_futures(binance):
    assert request(binance, "BTC/USDT", {"postOnly": True}) == {"type": "LIMIT_MAKER", "timeInForce": None,
                                                                "reduceOnly": None}
    assert request(binance, "BTC/USDT:USDT", {"postOnly": True}) == {"type": "LIMIT", "timeInForce": "GTX",
                                                                     "reduceOnly": None}
    # why ccxt_params sends no timeInForce with postOnly: ccxt would let it overwrite GTX
    overwritten = binance.create_order_request("BTC/USDT:USDT", "limit", "buy", 1.0, 100.0,
                                               {"postOnly": True, "timeInForce": "GTC"})
    assert overwritten["timeInForce"] == "GTC"


def test_ccxt_sends_time_in_force_and_reduce_only(binance):
    assert request(binance, "BTC/USDT", {"timeInForce": "IOC"}) == {"type": "LIMIT", "timeInForce": "IOC",
                                                                    "reduceOnly": None}
    assert request(binance, "BTC/USDT", {}) == {"type": "LIMIT", "timeInForce": "GTC", "reduceOnly": None}
    assert request(binance, "BTC/USDT:USDT", {"reduceOnly": True}, bt.Order.Market) == {
        "type": "MARKET", "timeInForce": None, "reduceOnly": True}


def test_capabilities_of_ccxt_markets(binance):
    spot = Capabilities.of_market(binance.market("BTC/USDT"))
    futures = Capabilities.of_market(binance.market("BTC/USDT:USDT"))
    assert spot == Capabilities("Binance spot", frozenset({"GTC", "IOC", "FOK"}), post_only=True, reduce_only=False)
    assert futures == Capabilities("Binance USD-M futures", frozenset({"GTC", "IOC", "FOK"}), post_only=True,
                                   reduce_only=True)
    listed = binance.parse_market({**perpetual_info("ETH/USDT:USDT"), "timeInForce": ["GTC", "IOC"]})
    assert Capabilities.of_market(listed) == Capabilities("Binance USD-M futures", frozenset({"GTC", "IOC"}),
                                                          post_only=False, reduce_only=True)


# -- in a backtest: refusals -----------------------------------------------------------------------------------
def test_an_order_with_a_parameter_it_cannot_honour_is_rejected_with_the_reason(run_params, lean):
    actions = {1: lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=101.0, timeInForce="GTD")}
    strategy, cerebro = run_params(ticks(100.0, 100.5), actions=actions, lean=lean)
    assert outcomes(strategy) == [("Rejected", 0.0, 0.0, T0)]
    assert strategy.reasons[0].startswith("timeInForce 'GTD' is not supported")
    assert cerebro.broker.fills == []


# -- post-only -------------------------------------------------------------------------------------------------
def test_post_only_marketable_on_arrival_is_rejected(run_params, lean):
    actions = {1: lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=100.0, postOnly=True)}
    strategy, _ = run_params(ticks(100.0, 99.0, 98.0), actions=actions, lean=lean)
    assert outcomes(strategy) == [("Rejected", 0.0, 0.0, T0)]
    assert strategy.reasons == ["postOnly: the order would take liquidity (last trade 100, limit 100)"]


def test_post_only_rests_and_fills_as_maker_at_its_limit(run_params, lean):
    actions = {1: lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=99.0, postOnly=True)}
    strategy, _ = run_params(ticks(100.0, 99.5, 99.0, 98.7), actions=actions, lean=lean)
    assert outcomes(strategy) == [("Completed", 99.0, 1.0, T0 + 3)]  # 98.7 prints through 99.0


def test_post_only_against_a_book(run_params, lean):
    at_the_ask = {1: lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=101.0, postOnly=True)}
    strategy, _ = run_params(book=BOOK, actions=at_the_ask, lean=lean)
    assert outcomes(strategy) == [("Rejected", 0.0, 0.0, T0)]
    assert strategy.reasons == ["postOnly: the order would take liquidity (best ask 101, limit 101)"]
    # inside the spread it rests; the ask that comes down to 100.2 reaches it: a maker fill at 100.5
    inside = {1: lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=100.5, postOnly=True)}
    strategy, _ = run_params(book=BOOK, actions=inside, lean=lean)
    assert outcomes(strategy) == [("Completed", 100.5, 1.0, T0 + 2)]


# -- reduce-only -----------------------------------------------------------------------------------------------
def test_reduce_only_that_would_open_or_increase_a_position_is_rejected(run_params, lean):
    actions = {1: lambda s: s.sell(size=1.0, reduceOnly=True),
               2: lambda s: s.buy(size=2.0),
               4: lambda s: s.buy(size=1.0, reduceOnly=True)}
    strategy, _ = run_params(ticks(100.0, 100.0, 101.0, 102.0, 103.0), actions=actions, lean=lean)
    assert outcomes(strategy) == [("Rejected", 0.0, 0.0, T0), ("Completed", 101.0, 2.0, T0 + 2),
                                  ("Rejected", 0.0, 0.0, T0 + 3)]
    assert strategy.reasons == ["reduceOnly: a sell would open a position (none is held)", None,
                                "reduceOnly: a buy would increase the long position of 2"]


def test_reduce_only_larger_than_the_position_fills_the_position_and_expires_the_rest(run_params, lean):
    # spot (the default): a plain sell of 3 holding 2 is refused (Margin); reduce-only never goes short
    actions = {1: lambda s: s.buy(size=2.0), 3: lambda s: s.sell(size=3.0, reduceOnly=True)}
    strategy, cerebro = run_params(ticks(100.0, 101.0, 102.0, 103.0), actions=actions, lean=lean)
    assert outcomes(strategy) == [("Completed", 101.0, 2.0, T0 + 1), ("Partial", 103.0, -2.0, T0 + 3),
                                  ("Expired", 103.0, -2.0, T0 + 3)]
    assert strategy.reasons == [None, "reduceOnly: the position is closed; the remaining 1 expired"]
    assert strategy.position.size == 0
    assert cerebro.broker.getcash() == pytest.approx(100_000.0 - 2 * 101.0 + 2 * 103.0)


def test_a_resting_reduce_only_order_expires_when_the_position_closes(run_params, lean):
    # a take-profit at 110 waits; a market sell closes the position at T0+4: the take-profit goes
    # (margin mode: on a spot asset the working take-profit would leave nothing for the second sell)
    actions = {1: lambda s: s.buy(size=2.0),
               3: lambda s: s.sell(size=2.0, exectype=bt.Order.Limit, price=110.0, reduceOnly=True),
               4: lambda s: s.sell(size=2.0)}
    strategy, _ = run_params(ticks(100.0, 101.0, 102.0, 103.0, 104.0, 111.0), actions=actions, broker=MARGIN,
                             lean=lean)
    assert outcomes(strategy) == [("Completed", 101.0, 2.0, T0 + 1), ("Completed", 104.0, -2.0, T0 + 4),
                                  ("Expired", 0.0, 0.0, T0 + 4)]
    assert strategy.reasons == [None, None, "reduceOnly: the position is closed; the remaining 2 expired"]


def test_a_resting_reduce_only_order_expires_when_the_position_reverses(run_params, lean):
    actions = {1: lambda s: s.buy(size=1.0),
               3: lambda s: s.sell(size=1.0, exectype=bt.Order.Limit, price=110.0, reduceOnly=True),
               4: lambda s: s.sell(size=3.0)}
    strategy, _ = run_params(ticks(100.0, 101.0, 102.0, 103.0, 104.0, 111.0), actions=actions, broker=MARGIN,
                             lean=lean)
    assert outcomes(strategy)[-1] == ("Expired", 0.0, 0.0, T0 + 4)
    assert strategy.reasons[-1] == "reduceOnly: the position is -2; the remaining 1 expired"
    assert strategy.position.size == -2.0



@pytest.mark.parametrize(("btc", "expected", "reason"), [
    ([99.5, 99.0], ("Rejected", 0.0, 0.0, T0 + 1), "postOnly: the order would take liquidity at 99.5"),
    ([100.5, 99.8], ("Completed", 100.0, 1.0, T0 + 2), None),
])
def test_post_only_sent_before_its_symbol_has_a_price_is_judged_by_its_first_trade(tmp_path, lean, btc, expected,
                                                                                    reason):
    # sent on an ETH trade at T0, when BTC has no price yet: the first BTC trade decides
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="ETH/USDT",
                        dataname=write_trades_csv(tmp_path / "eth.csv", [(T0, 3000.0, 1.0, "buy")]))
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(
        tmp_path / "btc.csv", [(T0 + 1 + i, price, 1.0, "sell") for i, price in enumerate(btc)]))
    cerebro.broker.p.lean_orders = lean

    def send(strategy):
        return strategy.buy(data="BTC/USDT", size=1.0, exectype=bt.Order.Limit, price=100.0, postOnly=True)

    cerebro.addstrategy(Outcomes, actions={1: send})
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert outcomes(strategy) == [expected]
    assert strategy.reasons == [reason]
