"""What a TickBroker refuses that backtrader's BackBroker lets through: spot shorts and
negative commissions.

Spot: with backtrader's defaults (a stock-like commission, ``shortcash=True``) a sell
beyond the asset held would open a short that costs no cash at all, so a 1,000 account
could sell any amount. In tick mode such a sell is refused instead. Shorting stays
possible in backtrader's own margin modes, which lock cash for every short and check it:
``setcommission(margin=...)`` (futures: the margin per contract) or
``set_shortcash(False)`` (a short locks its value, divided by the leverage).
"""

from __future__ import annotations

from typing import Any

from backtrader import Order

from .. import seam

__all__ = ["check_commissions", "is_spot", "short_refusal"]

SIZE_TOLERANCE = 1e-9  # relative: sizes summed in floating point may be off by a few ulps


def is_spot(broker: Any, data: Any) -> bool:
    """Whether ``data`` trades as a spot asset: no short without holding it."""
    return bool(broker.p.shortcash and broker.getcommissioninfo(data).stocklike)


def short_refusal(broker: Any, order: Order) -> str | None:
    """Why ``order``, about to be accepted, may not work: a sell that would open or extend a
    short on a spot asset (None: it may).

    A sell may use what is held less what the sells already working will take. Orders that
    cannot all fill count once: the children of one bracket, the members of one OCO group.
    A bracket's children are not checked (they close what their parent opens).
    """
    if order.isbuy() or order.parent is not None or not is_spot(broker, order.data):
        return None
    held = broker.getposition(order.data).size
    sells = _working_sells(broker, order.data)
    size = abs(order.executed.remsize)
    key = _group(broker, order)
    sells[key] = max(sells.get(key, 0.0), size)
    if sum(sells.values()) <= held + SIZE_TOLERANCE * max(1.0, abs(held)):
        return None
    free = held - sum(sells.values()) + sells[key]  # what the other groups leave for this one
    if held <= 0:
        return f"spot: cannot sell {size:g} without holding the asset (held {held:g})"
    return f"spot: cannot sell {size:g}: {max(free, 0.0):g} of the {held:g} held is not already being sold"


def _working_sells(broker: Any, data: Any) -> dict[Any, float]:
    groups: dict[Any, float] = {}
    for order in seam.pending_orders(broker):
        if order.data is data and not order.isbuy() and order.alive() and order.active():
            key = _group(broker, order)
            groups[key] = max(groups.get(key, 0.0), abs(order.executed.remsize))
    return groups


def _group(broker: Any, order: Order) -> tuple[str, int]:
    if order.parent is not None:
        return ("bracket", order.parent.ref)
    return ("oco", seam.oco_group(broker, order))


def check_commissions(broker: Any) -> None:
    """ValueError for a negative commission unless maker rebates were allowed."""
    if broker.p.maker_rebate:
        return
    for name, info in seam.commissions(broker).items():
        if info.p.commission < 0:
            which = "" if name is None else f" for {name!r}"
            raise ValueError(
                f"commission{which} is negative ({info.p.commission:g}): a maker rebate; "
                "allow it with cerebro.broker.set_maker_rebate(True)"
            )
