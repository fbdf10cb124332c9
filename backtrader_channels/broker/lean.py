"""Lean fills and cash checks: the arithmetic of BackBroker's ``_execute``, step
for step, without its general machinery.

``_execute`` serves every broker setting (cheat-on-open, compensated data, bar-mode fill
sizes) through one long function; a tick-mode fill of an order on a ChannelData needs
only its core: what the fill opens and closes, cash, commission, position, the order's
execution record and notification. The same comminfo methods are called with the same
values in the same order, so custom commission schemes behave as they do in backtrader;
tests/broker/test_lean_orders.py holds the two paths to the same runs.
"""

from __future__ import annotations

from typing import Any

from backtrader import Order
from backtrader.brokers import BackBroker

from .. import seam

__all__ = ["cash_after", "execute"]


def _closing(comminfo: Any, shortcash: bool, cash: float, closed: float, basis: float, price: float,
             pnl: float) -> tuple[float, float, float]:
    """Cash after closing ``closed`` units opened at ``basis`` at ``price``: (cash, value, commission)."""
    value = comminfo.getvaluesize(-closed, basis) if shortcash else comminfo.getoperationcost(closed, basis)
    released = value
    if value > 0:  # a long position closed
        released /= comminfo.get_leverage()
    cash += released + pnl * comminfo.stocklike
    commission = comminfo.getcommission(closed, price)
    return cash - commission, value, commission


def _opening(comminfo: Any, shortcash: bool, cash: float, opened: float, price: float) -> tuple[float, float, float]:
    """Cash after opening ``opened`` units at ``price``: (cash, value, commission)."""
    value = comminfo.getvaluesize(opened, price) if shortcash else comminfo.getoperationcost(opened, price)
    locked = value
    if value > 0:  # a long position opened
        locked /= comminfo.get_leverage()
    cash -= locked
    commission = comminfo.getcommission(opened, price)
    return cash - commission, value, commission


def cash_after(broker: BackBroker, order: Order) -> float:
    """The cash left if ``order`` filled now at its creation price: the check at submission."""
    data = order.data
    comminfo = BackBroker.getcommissioninfo(broker, data)
    price = order.created.price
    _, _, opened, closed = BackBroker.getposition(broker, data).pseudoupdate(order.executed.remsize, price)
    shortcash = broker.p.shortcash
    cash = BackBroker.getcash(broker)
    if closed:
        cash = _closing(comminfo, shortcash, cash, closed, price, price, 0)[0]
    if opened:
        cash = _opening(comminfo, shortcash, cash, opened, price)[0]
    return cash


def execute(broker: BackBroker, order: Order, size: float, price: float, when_num: float) -> None:
    """Fill ``size`` (unsigned) of ``order`` at ``price`` at date number ``when_num``, or refuse
    the part that would open a position for lack of cash (Margin)."""
    if not order.isbuy():
        size = -size
    data = order.data
    comminfo = BackBroker.getcommissioninfo(broker, data)
    shortcash = broker.p.shortcash
    position = BackBroker.getposition(broker, data)
    basis = position.price
    psize, pprice, opened, closed = position.pseudoupdate(size, price)
    pnl = comminfo.profitandloss(-closed, basis, price)
    cash = BackBroker.getcash(broker)
    if closed:
        cash, closedvalue, closedcomm = _closing(comminfo, shortcash, cash, closed, basis, price, pnl)
        cash += comminfo.cashadjust(-closed, position.adjbase, price)
        seam.set_cash_now(broker, cash)
    else:
        closedvalue = closedcomm = 0.0
    wanted = opened
    if opened:
        cash, openedvalue, openedcomm = _opening(comminfo, shortcash, cash, opened, price)
        if cash < 0.0:  # not enough cash to open: only the closing part executes
            opened = 0
            openedvalue = openedcomm = 0.0
        else:
            if abs(psize) > abs(opened):  # futures held before: their cash adjusted to this price
                cash += comminfo.cashadjust(psize - opened, position.adjbase, price)
            position.adjbase = price
            seam.set_cash_now(broker, cash)
    else:
        openedvalue = openedcomm = 0.0
    executed = closed + opened
    if executed:
        comminfo.confirmexec(executed, price)
        position.update(executed, price, data.datetime.datetime())
        if closed and broker.p.int2pnl:
            closedcomm += seam.take_credit_interest(broker, data)
        order.execute(when_num, executed, price, closed, closedvalue, closedcomm, opened, openedvalue, openedcomm,
                      comminfo.margin, pnl, psize, pprice)
        order.addcomminfo(comminfo)
        broker.notify(order)
        seam.oco_check(broker, order)
    if wanted and not opened:
        order.margin()
        broker.notify(order)
        seam.oco_check(broker, order)
        seam.bracket_done(broker, order, cancel=True)
