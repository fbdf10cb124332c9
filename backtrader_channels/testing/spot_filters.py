"""Binance's documented order rules, as FakeExchange enforces them.

Each rule cites the page of Binance's API documentation it follows (spot: "Filters", "Error
codes", "Trading endpoints" / "Account endpoints"; USD-M futures: "New Order", "Account Trade
List"). A refusal is Binance's answer: an HTTP status with ``{"code": ..., "msg": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Refusal", "SpotFilters", "trade_page"]

DAY_MS = 24 * 3600 * 1000


class Refusal(Exception):
    """A Binance error answer: HTTP ``status`` with ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _decimal(text: str, name: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:  # Binance: -1100 "Illegal characters found in parameter '%s'; ..."
        raise Refusal(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                  "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from None


def _fmt(value: float) -> str:
    return f"{value:.8f}"


@dataclass(frozen=True)
class SpotFilters:
    """A spot symbol's filters: served in ``exchangeInfo`` and enforced on every new order.

    Binance spot "Filters": PRICE_FILTER (price and stopPrice within ``min_price`` ..
    ``max_price`` and a multiple of ``tick_size``), LOT_SIZE (quantity within ``min_qty`` ..
    ``max_qty``, a multiple of ``step_size``), NOTIONAL (price x quantity at least
    ``min_notional``; for a MARKET order the last price is used, ``avgPriceMins`` 0 "means the
    last price is used") and MAX_NUM_ORDERS ("the maximum number of orders an account is
    allowed to have open on a symbol"). A value of 0 disables a PRICE_FILTER rule, as at
    Binance. The defaults are BTCUSDT's, but for ``min_notional`` (5 USDT there too).
    """

    tick_size: float = 0.01
    min_price: float = 0.01
    max_price: float = 1_000_000.0
    step_size: float = 0.00001
    min_qty: float = 0.00001
    max_qty: float = 9000.0
    min_notional: float = 5.0
    max_notional: float = 9_000_000.0
    max_num_orders: int = 200

    def exchange_info(self) -> list[dict[str, Any]]:
        """The symbol's ``filters`` as ``GET /api/v3/exchangeInfo`` lists them."""
        return [
            {"filterType": "PRICE_FILTER", "minPrice": _fmt(self.min_price), "maxPrice": _fmt(self.max_price),
             "tickSize": _fmt(self.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": _fmt(self.min_qty), "maxQty": _fmt(self.max_qty),
             "stepSize": _fmt(self.step_size)},
            {"filterType": "NOTIONAL", "minNotional": _fmt(self.min_notional), "applyMinToMarket": True,
             "maxNotional": _fmt(self.max_notional), "applyMaxToMarket": False, "avgPriceMins": 0},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders},
        ]

    def check(self, params: Mapping[str, str], last_price: float, open_orders: int) -> None:
        """Refuse a new order (its REST ``params``) that a filter fails, in Binance's words.

        NOTIONAL values the order at its ``price``, else its ``stopPrice``, else (a MARKET
        order) ``last_price``; ``open_orders`` counts the account's open orders on the symbol,
        for MAX_NUM_ORDERS.
        """
        for name in ("price", "stopPrice"):
            if name in params and not self._price_ok(_decimal(params[name], name)):
                raise Refusal(400, -1013, "Filter failure: PRICE_FILTER")
        quantity = _decimal(params.get("quantity", "0"), "quantity")
        step = Decimal(_fmt(self.step_size))
        if not Decimal(_fmt(self.min_qty)) <= quantity <= Decimal(_fmt(self.max_qty)) or (step and quantity % step):
            raise Refusal(400, -1013, "Filter failure: LOT_SIZE")
        market_order = "price" not in params
        notional = float(quantity) * float(params.get("price") or params.get("stopPrice") or last_price)
        if notional < self.min_notional - 1e-12 or (not market_order and notional > self.max_notional):
            raise Refusal(400, -1013, "Filter failure: NOTIONAL")
        if open_orders >= self.max_num_orders:  # a filter the matching engine applies: -2010, as Binance answers
            raise Refusal(400, -2010, "Filter failure: MAX_NUM_ORDERS")

    def _price_ok(self, price: Decimal) -> bool:
        tick = Decimal(_fmt(self.tick_size))
        return ((not self.min_price or price >= Decimal(_fmt(self.min_price)))
                and (not self.max_price or price <= Decimal(_fmt(self.max_price)))
                and (not tick or price % tick == 0))


def trade_page(trades: Sequence[dict[str, Any]], params: Mapping[str, str], window_ms: int) -> list[dict[str, Any]]:
    """One answer of ``GET /api/v3/myTrades`` (``window_ms`` one day) or ``/fapi/v1/userTrades``
    (seven days) from one symbol's ``trades``, oldest first, by Binance's paging rules.

    Binance spot "Account trade list": ``limit`` defaults to 500, at most 1000; with
    ``orderId`` only that order's trades; "If fromId is set, it will get trades >= that
    fromId. Otherwise most recent trades are returned."; "The time between startTime and
    endTime can't be longer than 24 hours" (USD-M: 7 days). A time range gives the first
    ``limit`` trades in it; one bound alone spans the longest window from it.
    """
    limit = int(_decimal(params.get("limit", "500"), "limit"))
    if not 1 <= limit <= 1000:
        raise Refusal(400, -1130, "Data sent for parameter 'limit' is not valid.")
    if "orderId" in params:
        trades = [trade for trade in trades if str(trade["orderId"]) == params["orderId"]]
    if "fromId" in params:
        from_id = int(params["fromId"])
        return [trade for trade in trades if trade["id"] >= from_id][:limit]
    start, end = params.get("startTime"), params.get("endTime")
    if start is None and end is None:
        return list(trades[-limit:])
    if start is not None and end is not None and int(end) - int(start) > window_ms:
        raise Refusal(400, -1127, f"More than {window_ms // 3_600_000} hours between startTime and endTime.")
    first = int(start) if start is not None else int(end or 0) - window_ms
    last = int(end) if end is not None else first + window_ms
    return [trade for trade in trades if first <= trade["time"] <= last][:limit]
