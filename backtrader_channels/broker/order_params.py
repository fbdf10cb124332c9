"""Order parameters beyond backtrader's own: time in force, post-only, reduce-only.

A strategy passes them as keyword arguments, which backtrader keeps in ``order.info``::

    self.buy(exectype=bt.Order.Limit, price=100.0, timeInForce='IOC')
    self.sell(exectype=bt.Order.Limit, price=105.0, postOnly=True)
    self.sell(size=2, reduceOnly=True)

``parse(order)`` reads them into an ``OrderParams``; ``ccxt_params(params, capabilities)``
turns that into the ``params`` of ccxt's ``create_order`` for a venue described by a
``Capabilities``. Both raise ``OrderParamsError`` (a ``ValueError``) whose message names the
parameter and what is allowed: a broker refuses the order with that message as its reason,
it never sends the order without the parameter. The names and spellings are ccxt's
(``timeInForce``, ``postOnly``, ``reduceOnly``); ``timeInForce`` is read case-insensitively
('ioc' is 'IOC', as ccxt reads it), a value of None counts as not given, and a near miss
(``time_in_force``, ``post_only``, ``tif``...) is refused rather than ignored. Other keys of
``order.info`` are the strategy's own and are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from backtrader import Order

__all__ = [
    "BINANCE_SPOT",
    "BINANCE_USDM",
    "Capabilities",
    "OrderParams",
    "OrderParamsError",
    "TIME_IN_FORCE",
    "ccxt_params",
    "parse",
]

TimeInForce = Literal["GTC", "IOC", "FOK"]
TIME_IN_FORCE: tuple[TimeInForce, ...] = ("GTC", "IOC", "FOK")
LIMIT_TYPES = (Order.Limit, Order.StopLimit, Order.StopTrailLimit)  # orders with a limit price
_NAMES = {"timeinforce": "timeInForce", "tif": "timeInForce", "postonly": "postOnly", "reduceonly": "reduceOnly"}
_HINTS = {
    "GTD": "for an order that expires at a time use backtrader's valid=",
    "GTX": "for a post-only order use postOnly=True",
    "PO": "for a post-only order use postOnly=True",
}


class OrderParamsError(ValueError):
    """An order parameter that is unknown, of the wrong type, contradictory or not supported
    by the venue; the message says which and what is allowed."""


@dataclass(frozen=True)
class OrderParams:
    """What an order asks of the venue beyond its type, size and prices.

    ``time_in_force`` is None for an order without a limit price (market, stop, trailing
    stop), to which it does not apply; 'GTC' (rest until cancelled, the default), 'IOC'
    (fill what is there at once, expire the rest) or 'FOK' (fill all at once or expire)
    otherwise. ``post_only``: rest on the book, refused if it would take. ``reduce_only``:
    only ever reduce the position.
    """

    time_in_force: TimeInForce | None = None
    post_only: bool = False
    reduce_only: bool = False

    @property
    def plain(self) -> bool:
        """Whether the order asks nothing beyond what every order gets (GTC, may take, may open)."""
        return self.time_in_force in (None, "GTC") and not self.post_only and not self.reduce_only

    @property
    def immediate(self) -> bool:
        """IOC or FOK: the order gets one chance to fill and never rests."""
        return self.time_in_force in ("IOC", "FOK")


PLAIN = OrderParams()
PLAIN_LIMIT = OrderParams(time_in_force="GTC")


def parse(order: Order) -> OrderParams:
    """The parameters in ``order.info``, checked against the order's type.

    Raises ``OrderParamsError`` for an unknown ``timeInForce`` (allowed: GTC, IOC, FOK), a
    ``postOnly``/``reduceOnly`` that is not a bool, ``timeInForce`` or ``postOnly`` on an
    order without a limit price, ``postOnly`` on anything but a Limit order or together with
    IOC/FOK, and a misspelt parameter name.
    """
    info, exectype = order.info, order.exectype
    limited = exectype in LIMIT_TYPES
    if not info:
        return PLAIN_LIMIT if limited else PLAIN
    for key in info:
        canonical = _NAMES.get(key.replace("_", "").lower()) if isinstance(key, str) else None
        if canonical is not None and key != canonical:
            raise OrderParamsError(f"unknown order parameter {key!r}: did you mean {canonical}?")
    kind = Order.ExecTypes[exectype]
    post_only = _flag(info, "postOnly")
    reduce_only = _flag(info, "reduceOnly")
    tif = _time_in_force(info.get("timeInForce"))
    if tif is not None and not limited:
        raise OrderParamsError(f"timeInForce applies to orders with a limit price (Limit, StopLimit, "
                               f"StopTrailLimit), not to a {kind} order")
    if post_only:
        if exectype != Order.Limit:
            raise OrderParamsError(f"postOnly applies to Limit orders only, not to a {kind} order")
        if tif in ("IOC", "FOK"):
            raise OrderParamsError(f"postOnly cannot be combined with timeInForce {tif!r}: a post-only order "
                                   "rests on the book, an IOC or FOK order never does")
    if tif is None and limited:
        tif = "GTC"
    return OrderParams(tif, post_only, reduce_only)


def _flag(info: Mapping[str, Any], name: str) -> bool:
    value = info.get(name)
    if value is None:
        return False
    if not isinstance(value, (bool, np.bool_)):
        raise OrderParamsError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def _time_in_force(value: Any) -> TimeInForce | None:
    if value is None:
        return None
    allowed = ", ".join(repr(name) for name in TIME_IN_FORCE)
    if not isinstance(value, str):
        raise OrderParamsError(f"timeInForce must be one of {allowed} (a string), got {value!r} "
                               f"({type(value).__name__})")
    upper = value.upper()
    if upper not in TIME_IN_FORCE:
        hint = _HINTS.get(upper)
        raise OrderParamsError(f"timeInForce {value!r} is not supported: use one of {allowed}"
                               + (f" ({hint})" if hint else ""))
    return upper


@dataclass(frozen=True)
class Capabilities:
    """Which order parameters a venue (one market type of one exchange) takes."""

    venue: str
    time_in_force: frozenset[str] = frozenset(TIME_IN_FORCE)
    post_only: bool = True
    reduce_only: bool = False

    @classmethod
    def of_market(cls, market: Mapping[str, Any]) -> Capabilities:
        """What Binance takes for a market as ccxt's ``exchange.market(symbol)`` describes it.

        Spot: GTC/IOC/FOK, post-only when the symbol lists the LIMIT_MAKER order type, no
        reduce-only (a spot account holds assets, not positions). USD-M and COIN-M futures: the
        times in force the symbol lists (GTX is post-only), reduce-only. Margin and options:
        none of the three (not supported here).
        """
        info = market.get("info") or {}
        if market.get("spot") and market.get("type", "spot") == "spot":
            types = info.get("orderTypes")
            return cls("Binance spot", post_only=types is None or "LIMIT_MAKER" in types)
        if market.get("contract") and not market.get("option"):
            listed = info.get("timeInForce")
            name = "Binance USD-M futures" if market.get("linear") else "Binance COIN-M futures"
            if listed is None:
                return cls(name, reduce_only=True)
            return cls(name, frozenset(TIME_IN_FORCE).intersection(listed), "GTX" in listed, True)
        return cls(f"Binance {market.get('type', 'unknown')}", frozenset(), False, False)


BINANCE_SPOT = Capabilities("Binance spot")
BINANCE_USDM = Capabilities("Binance USD-M futures", reduce_only=True)


def ccxt_params(params: OrderParams, capabilities: Capabilities) -> dict[str, Any]:
    """The ``params`` of ccxt's ``create_order`` that carry ``params`` to the venue.

    A limit gets its ``timeInForce`` ('GTC' included, so what is sent does not depend on
    ccxt's options); a post-only limit gets ``postOnly: True`` and no ``timeInForce`` (ccxt
    4.5 sends post-only as the LIMIT_MAKER type on Binance spot, which refuses a
    timeInForce, and as timeInForce GTX on futures, which an explicit timeInForce would
    overwrite); reduce-only gets ``reduceOnly: True``. Raises ``OrderParamsError`` for what
    the venue does not take.
    """
    venue = capabilities.venue
    tif = params.time_in_force
    if params.reduce_only and not capabilities.reduce_only:
        raise OrderParamsError(f"reduceOnly is not supported on {venue}: there is no position to reduce "
                               "(sell what you hold instead)")
    if params.post_only and not capabilities.post_only:
        raise OrderParamsError(f"postOnly is not supported on {venue}")
    if tif is not None and tif not in capabilities.time_in_force:
        allowed = ", ".join(repr(name) for name in TIME_IN_FORCE if name in capabilities.time_in_force)
        raise OrderParamsError(f"timeInForce {tif!r} is not supported on {venue}: use one of {allowed or 'none'}")
    out: dict[str, Any] = {}
    if params.post_only:
        out["postOnly"] = True
    elif tif is not None:
        out["timeInForce"] = tif
    if params.reduce_only:
        out["reduceOnly"] = True
    return out
