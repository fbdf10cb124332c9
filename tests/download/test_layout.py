"""Where the site keeps each file, and which files a date range takes."""

from __future__ import annotations

import datetime as dt

import pytest

from backtrader_channels.download import DownloadError, binance_symbol, plan

D = dt.date


def paths(files) -> list[str]:
    return [str(file.path) for file in files]


def test_whole_months_come_as_monthly_files_and_the_other_days_as_daily_ones():
    files = plan("BTC/USDT", "trades", "spot", D(2024, 1, 30), D(2024, 3, 2))
    assert paths(files) == [
        "spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-30.zip",
        "spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-31.zip",
        "spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-02.zip",
        "spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-03-01.zip",
        "spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-03-02.zip",
    ]
    assert [(f.first, f.last) for f in files][2] == (D(2024, 2, 1), D(2024, 2, 29))  # 2024 is a leap year


def test_a_month_not_published_stands_for_its_days():
    [month] = plan("BTC/USDT", "aggTrades", "spot", D(2024, 2, 1), D(2024, 2, 29))
    days = month.days()
    assert len(days) == 29
    assert str(days[-1].path) == "spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-02-29.zip"


def test_klines_are_named_by_their_interval():
    files = plan("ETH/USDT", "klines", "spot", D(2024, 5, 31), D(2024, 6, 30), interval="1m")
    assert paths(files) == ["spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-05-31.zip",
                            "spot/monthly/klines/ETHUSDT/1m/ETHUSDT-1m-2024-06.zip"]
    [weekly] = plan("BTC/USDT:USDT", "markPriceKlines", "um", D(2024, 1, 3), D(2024, 1, 5), interval="1w")
    assert str(weekly.path) == "futures/um/monthly/markPriceKlines/BTCUSDT/1w/BTCUSDT-1w-2024-01.zip"


def test_funding_rates_come_monthly_only_and_book_depth_daily_only():
    funding = plan("BTC/USDT:USDT", "fundingRate", "um", D(2024, 1, 15), D(2024, 2, 10))
    assert paths(funding) == ["futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
                              "futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-02.zip"]
    assert funding[0].days() == []  # no daily fundingRate files to fall back on
    depth = plan("BTC/USD:BTC", "bookDepth", "cm", D(2024, 1, 1), D(2024, 1, 31))
    assert len(depth) == 31
    assert str(depth[0].path) == "futures/cm/daily/bookDepth/BTCUSD_PERP/BTCUSD_PERP-bookDepth-2024-01-01.zip"


@pytest.mark.parametrize(("symbol", "market", "expected"), [
    ("BTC/USDT", "spot", "BTCUSDT"),
    ("btcusdt", "spot", "BTCUSDT"),
    ("BTC/USDT:USDT", "um", "BTCUSDT"),
    ("BTC/USDT:USDT-240628", "um", "BTCUSDT_240628"),
    ("BTC/USD:BTC", "cm", "BTCUSD_PERP"),
    ("BTCUSD", "cm", "BTCUSD_PERP"),
    ("BTC/USD:BTC-240628", "cm", "BTCUSD_240628"),
    ("ETHUSD_PERP", "cm", "ETHUSD_PERP"),
])
def test_symbols_are_spelled_as_the_site_does(symbol, market, expected):
    assert binance_symbol(symbol, market) == expected


@pytest.mark.parametrize(("call", "message"), [
    (dict(symbol="BTC/USDT", data="trades", market="spot", start=D(2024, 1, 3), end=D(2024, 1, 1)),
     "--from 2024-01-03 is after --to 2024-01-01"),
    (dict(symbol="BTC/USDT", data="bookTicker", market="spot", start=D(2024, 1, 1), end=D(2024, 1, 1)),
     "data 'bookTicker' is not published for spot: expected one of trades, aggTrades, klines"),
    (dict(symbol="BTC/USDT", data="klines", market="spot", start=D(2024, 1, 1), end=D(2024, 1, 1)),
     "klines need an --interval: one of 1s, 1m"),
    (dict(symbol="BTC/USDT", data="klines", market="um", start=D(2024, 1, 1), end=D(2024, 1, 1), interval="1s"),
     "interval '1s' is not published for um klines"),
    (dict(symbol="BTC/USDT", data="trades", market="spot", start=D(2024, 1, 1), end=D(2024, 1, 1), interval="1m"),
     "--interval goes with the kline data sets, not trades"),
    (dict(symbol="BTC/USDT:USDT", data="trades", market="spot", start=D(2024, 1, 1), end=D(2024, 1, 1)),
     "symbol 'BTC/USDT:USDT' is a futures contract: pass --market um or cm"),
    (dict(symbol="BTC/USDT", data="trades", market="usdm", start=D(2024, 1, 1), end=D(2024, 1, 1)),
     "market 'usdm': expected one of spot, um, cm"),
])
def test_requests_the_site_cannot_answer_are_refused_before_any_download(call, message):
    with pytest.raises(DownloadError) as raised:
        plan(**call)
    assert str(raised.value).startswith(message)
