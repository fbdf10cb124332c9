"""Venue adapters: which exchange ids each serves, its data clients, and a clear refusal."""

from __future__ import annotations

import pytest

from backtrader_channels.broker.ccxt_broker import CCXTBroker
from backtrader_channels.feeds import CCXTLiveFundingFeed, CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from backtrader_channels.venues import adapter_for
from backtrader_channels.venues.binance import BinanceExecution


def test_binance_spot_and_usdm_share_one_adapter_with_its_feeds_and_execution_client():
    spot, usdm = adapter_for("binance"), adapter_for("binanceusdm")
    assert spot is usdm and spot.name == "binance"
    assert [spot.data_client(kind) for kind in ("tick", "orderbook", "funding")] == [
        CCXTLiveTickFeed, CCXTLiveOrderBookFeed, CCXTLiveFundingFeed]
    assert spot._load().EXECUTION_CLIENT is BinanceExecution
    with pytest.raises(ValueError, match="binance has no data client for 'quote'; it has funding, orderbook, tick"):
        spot.data_client("quote")


def test_an_exchange_no_adapter_serves_is_refused_by_name_when_the_broker_is_made():
    with pytest.raises(ValueError, match=r"no venue adapter serves the exchange 'kraken' \(served: binance, binanceusdm\)"):
        CCXTBroker("kraken", {})


def test_a_run_id_that_cannot_prefix_client_ids_is_refused():
    with pytest.raises(ValueError, match="run_id 'my run!'"):
        CCXTBroker("binance", {}, run_id="my run!")
