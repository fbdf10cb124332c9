"""Binance USD-M perpetuals for FakeBinance: ``GET /fapi/v1/exchangeInfo`` and the mark price stream.

What ccxt.pro's ``binance`` needs to load a linear swap market (``fetch_markets`` with
``types=['linear']``, ``parse_market``) and to follow it with ``watch_mark_price``: the
``<id>@markPrice@1s`` stream on the USD-M market WebSocket (``/market/ws``), carrying
Binance's ``markPriceUpdate`` messages (mark ``p``, index ``i``, rate ``r``, next funding
time ``T``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["MarkPriceUpdate", "mark_price_message", "market_id", "perpetual_info"]

_FAR_DELIVERY_MS = 4133404800000  # Binance's delivery date of a perpetual (2100-12-25)


class MarkPriceUpdate(NamedTuple):
    """One mark price update: times in ms; ``rate`` as sent (a string sends it as-is, e.g. ``"abc"``)."""

    event_time: int
    mark_price: float
    rate: float | str
    next_funding_time: int
    index_price: float | None = None


def market_id(symbol: str) -> str:
    """Binance's id of a unified spot or perpetual symbol: ``'BTC/USDT:USDT'`` -> ``'BTCUSDT'``."""
    return symbol.split(":")[0].replace("/", "")


def perpetual_info(symbol: str) -> dict[str, Any]:
    """The ``/fapi/v1/exchangeInfo`` entry of the USD-M perpetual ``symbol`` (``'BTC/USDT:USDT'``)."""
    pair, _, settle = symbol.partition(":")
    base, quote = pair.split("/")
    if settle != quote:
        raise ValueError(f"a USD-M perpetual is written BASE/QUOTE:QUOTE (e.g. 'BTC/USDT:USDT'), got {symbol!r}")
    return {
        "symbol": market_id(symbol),
        "pair": market_id(symbol),
        "contractType": "PERPETUAL",
        "deliveryDate": _FAR_DELIVERY_MS,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": settle,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def mark_price_message(symbol: str, update: MarkPriceUpdate) -> dict[str, Any]:
    """Binance's ``markPriceUpdate`` for ``update``."""
    index = update.mark_price if update.index_price is None else update.index_price
    rate = update.rate if isinstance(update.rate, str) else f"{update.rate:.8f}"
    return {
        "e": "markPriceUpdate",
        "E": update.event_time,
        "s": market_id(symbol),
        "p": f"{update.mark_price:.8f}",
        "i": f"{index:.8f}",
        "P": f"{update.mark_price:.8f}",
        "r": rate,
        "T": update.next_funding_time,
    }
