"""The one seam to backtrader's internals.

backtrader has no public API for driving strategies event by event, for executing an
order at a price of our choosing, or for filling a line buffer from an array. Every place
this package reaches into backtrader's private names goes through this module, and
``check_backtrader()`` runs at import: on a backtrader release other than the ones this
was written against, it verifies that every name used here still exists with the
expected parameters, and otherwise raises ``BacktraderIncompatible`` naming what moved.
"""

from __future__ import annotations

import datetime
import inspect
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import backtrader as bt
from backtrader.brokers import BackBroker
from backtrader.linebuffer import LineBuffer
from backtrader.lineiterator import LineIterator
from backtrader.order import Order, OrderBase, OrderData
from backtrader.strategy import MetaStrategy
from backtrader.timer import Timer
from backtrader.trade import Trade
from backtrader.utils import AutoOrderedDict, num2date

__all__ = [
    "KNOWN_VERSIONS",
    "BacktraderIncompatible",
    "check_backtrader",
]

KNOWN_VERSIONS = ("1.9.78.123",)

# every private (or undocumented) name used below, by owner
_REQUIRED: dict[Any, tuple[str, ...]] = {
    bt.Cerebro: ("run", "runstop", "_next_writers", "runstrategies", "_check_timers", "_notify_data"),
    Timer: ("check", "_reset_when"),
    bt.Strategy: ("_next", "_notify", "_addnotification", "_next_analyzers", "_next_observers",
                  "_periodset", "_getminperstatus", "forward", "clear"),
    Trade: ("update",),
    MetaStrategy: ("dopreinit",),
    BackBroker: ("_execute", "_ococheck", "_ocoize", "_bracketize", "_slip_up", "_slip_down", "_get_value",
                 "check_submitted", "submit_accept", "get_notification", "notify"),
    LineIterator: ("_next", "_once", "home"),
    LineBuffer: ("reset", "home", "UnBounded"),
    Order: ("clone", "alive", "refbasis"),
    OrderData: ("clone",),
    bt.feed.DataBase: ("_start", "forward"),
    BackBroker.params: ("_getkeys",),
}
_PARAMETERS: dict[tuple[Any, str], tuple[str, ...]] = {
    (BackBroker, "_execute"): ("self", "order", "ago", "price", "cash", "position", "dtcoc"),
    (BackBroker, "_slip_up"): ("self", "pmax", "price", "doslip", "lim"),
    (BackBroker, "_slip_down"): ("self", "pmin", "price", "doslip", "lim"),
    (BackBroker, "_bracketize"): ("self", "order", "cancel"),
    (bt.Strategy, "_addnotification"): ("self", "order", "quicknotify"),
    (bt.Strategy, "_next_analyzers"): ("self", "minperstatus", "once"),
    (bt.Strategy, "_notify"): ("self", "qorders", "qtrades"),
}
# attributes set on instances in __init__, checked on fresh objects
_INSTANCE_FIELDS: dict[str, tuple[str, ...]] = {
    "BackBroker": ("notifs", "pending", "submitted", "_toactivate", "_ocos", "_ocol", "positions", "comminfo",
                   "orders", "_pchildren", "cash", "startingcash", "d_credit"),
    "Cerebro": ("_dooptimize", "strats", "optcbs", "datas", "datasbyname"),
    "DataBase": ("_name", "_timeframe", "_compression"),
    "LineBuffer": ("array", "idx", "lencount", "mode", "_idx", "bindings"),
    "OrderData": ("exbits", "p1", "p2"),
}
# attributes a method sets when it runs, checked in its source (backtrader's own, as imported)
_SET_BY: dict[Callable[..., Any], tuple[str, ...]] = {
    bt.Cerebro.run: ("self._event_stop", "self.runwriters", "self.runstrats", "self.writers_csv"),
    bt.Cerebro.runstrategies: ("self._timers", "self._timerscheat"),
    Timer._reset_when: ("self._dtwhen", "self._lastcall"),
}


class BacktraderIncompatible(ImportError):
    """The installed backtrader moved an internal this package relies on."""


def check_backtrader() -> None:
    """Raise ``BacktraderIncompatible`` if an unknown backtrader release changed a used internal."""
    if bt.__version__ in KNOWN_VERSIONS:
        return
    missing = [f"{owner.__name__}.{name}" for owner, names in _REQUIRED.items()
               for name in names if not hasattr(owner, name)]
    for (owner, name), expected in _PARAMETERS.items():
        function = getattr(owner, name, None)
        if function is not None and tuple(inspect.signature(function).parameters) != expected:
            missing.append(f"{owner.__name__}.{name}{expected} (parameters changed)")
    for function, fields in _SET_BY.items():
        source = inspect.getsource(function)
        missing += [f"{function.__qualname__} setting {field}" for field in fields if field not in source]
    samples = {"BackBroker": BackBroker(), "Cerebro": bt.Cerebro(), "DataBase": bt.feed.DataBase(),
               "LineBuffer": LineBuffer(), "OrderData": OrderData()}
    missing += [f"{owner}().{name}" for owner, names in _INSTANCE_FIELDS.items()
                for name in names if not hasattr(samples[owner], name)]
    if missing:
        raise BacktraderIncompatible(
            f"backtrader {bt.__version__} is not supported by backtrader_channels (written for "
            f"{', '.join(KNOWN_VERSIONS)}): it changed {', '.join(missing)}"
        )


# -- Cerebro ---------------------------------------------------------------------------------
def stop_requested(cerebro: bt.Cerebro) -> bool:
    """Whether ``cerebro.runstop()`` was called (by a strategy, a signal or a command)."""
    return cerebro._event_stop


@contextmanager
def bar_loop_replaced(cerebro: bt.Cerebro, loop: Callable[[list], None]) -> Iterator[None]:
    """For one ``Cerebro.run``: backtrader builds strategies, analyzers and observers as
    usual, then hands them to ``loop`` instead of its own bar loops."""
    cerebro._runnext = cerebro._runonce = loop
    try:
        yield
    finally:
        del cerebro._runnext, cerebro._runonce


def optimising(cerebro: bt.Cerebro) -> bool:
    """Whether ``optstrategy`` was used (several parameter sets to run)."""
    return cerebro._dooptimize


def strategy_entries(cerebro: bt.Cerebro) -> list[list]:
    """The strategies to run, as backtrader keeps them: one list of (class, args, kwargs)
    per ``addstrategy``/``optstrategy`` call (made re-iterable here)."""
    cerebro.strats = [list(entry) for entry in cerebro.strats]
    return cerebro.strats


def set_strategy_entries(cerebro: bt.Cerebro, entries: list[list]) -> None:
    cerebro.strats = entries


def finish_optimisation(cerebro: bt.Cerebro, results: list) -> None:
    """What backtrader does with optimisation results: the callbacks, then ``runstrats``."""
    for result in results:
        for callback in cerebro.optcbs:
            callback(result)
    cerebro.runstrats = results


def param_values(params: Any) -> dict:
    """The values of a backtrader params object (``strategy.params``, ``broker.p``) by name."""
    return dict(params._getkwargs())


def opt_return(strategycls: type[bt.Strategy], params: dict, analyzers: list[tuple[str, Any]], **extra: Any) -> Any:
    """backtrader's lightweight optimisation result (``OptReturn``) of a strategy."""
    from backtrader.cerebro import OptReturn
    from backtrader.metabase import ItemCollection

    values = strategycls.params()
    for name, value in params.items():
        setattr(values, name, value)
    collection = ItemCollection()
    for name, analyzer in analyzers:
        collection.append(analyzer, name)
    return OptReturn(values, analyzers=collection, strategycls=strategycls, **extra)


def notify_data(cerebro: bt.Cerebro, strategies: list, data: Any, status: int) -> None:
    """A data status (``DataBase.LIVE``...) to cerebro's data callbacks and ``notify_data``,
    then to every strategy's, as backtrader hands over a feed's notifications."""
    cerebro._notify_data(data, status)
    for strategy in strategies:
        strategy.notify_data(data, status)


def step_writers(cerebro: bt.Cerebro, strategies: list) -> None:
    if cerebro.runwriters:
        cerebro._next_writers(strategies)


def writes_rows(cerebro: bt.Cerebro) -> bool:
    """Whether a writer of this run writes a CSV row per step (``WriterFile(csv=True)``)."""
    return bool(cerebro.runwriters) and bool(cerebro.writers_csv)


# -- timers ----------------------------------------------------------------------------------
# ``Cerebro.runstrategies`` starts the timers of ``add_timer`` (cerebro's and strategies') before
# the bar loop; backtrader's bar loop checks them at every bar. A tick run checks them with
# backtrader's own ``Timer.check`` at the events when one can fire.

def timers(cerebro: bt.Cerebro) -> list:
    """The timers of this run, started (``cheat`` ones first, as backtrader checks them)."""
    return [*cerebro._timerscheat, *cerebro._timers]


def fire_timers(cerebro: bt.Cerebro, strategies: list, num: float) -> None:
    """Check every timer at date number ``num``: those due call ``notify_timer`` (of their
    owner, and of every strategy with ``strats=True``), as at a bar."""
    cerebro._check_timers(strategies, num, cheat=True)
    cerebro._check_timers(strategies, num, cheat=False)


def timer_next_check(timer: Timer, num: float) -> float:
    """After a check at date number ``num``: the earliest date number at which ``timer`` can
    fire, its next ``when`` today (a repeat, or not yet reached) or else the next midnight
    (UTC), where ``Timer.check`` starts a new day (week and month days, sessions)."""
    midnight = math.floor(num) + 1.0
    dtwhen = timer._dtwhen
    if dtwhen is None or timer._lastcall == num2date(num).date():
        return midnight
    return min(dtwhen, midnight)


def quick_notify(cerebro: bt.Cerebro) -> bool:
    return bool(cerebro.p.quicknotify)


def install_strategy_preinit(hook: Callable[[bt.Strategy], None]) -> None:
    """Call ``hook(strategy)`` after backtrader's own pre-init, before the strategy's ``__init__``."""
    original = MetaStrategy.dopreinit

    def dopreinit(cls, _obj, *args, **kwargs):
        _obj, args, kwargs = original(cls, _obj, *args, **kwargs)
        hook(_obj)
        return _obj, args, kwargs

    dopreinit.original = original  # type: ignore[attr-defined]
    MetaStrategy.dopreinit = dopreinit


# -- strategies ------------------------------------------------------------------------------
# Order and trade notifications reach strategies (and analyzers) when the broker has them,
# between steps; observers read the orders and trades of a step from the strategy's pending
# lists at the next step (a bar close, or a clock step of a tick-only run). Between the two
# they wait in the strategy's ``_bc_stash``, so each is notified once and observed once.

def _stash(strategy: bt.Strategy) -> tuple[list, list]:
    stash = strategy.__dict__.get("_bc_stash")
    if stash is None:
        stash = strategy._bc_stash = ([], [])
    return stash


def _unstash(strategy: bt.Strategy) -> None:
    """The orders and trades notified since the last step become the step's pending ones."""
    orders, trades = _stash(strategy)
    strategy._orderspending, strategy._tradespending = orders, trades
    strategy._bc_stash = ([], [])


class _OnFeed:
    """An order or trade as a bar run's observers see it: on the bar feed that trades its
    symbol (orders trade the symbol's ChannelData), all else the item's own."""

    __slots__ = ("_item", "data")

    def __init__(self, item: Any, data: Any) -> None:
        self._item, self.data = item, data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._item, name)


def bar_step(strategy: bt.Strategy, feed_of: dict[int, Any]) -> None:
    """One bar of backtrader's own machinery: indicators, ``next``/``prenext``, analyzers, observers.

    backtrader's ``Strategy._next``, with the orders and trades notified since the last
    bar handed to the observers (BuySell, Trades) rather than notified again, each on the
    bar feed ``feed_of[id(channel data)]`` that trades its symbol.
    """
    LineIterator._next(strategy)  # clock, indicators, cash/value notification, next()
    minperstatus = strategy._getminperstatus()
    _unstash(strategy)
    strategy._next_analyzers(minperstatus)
    orders, trades = strategy._orderspending, strategy._tradespending
    strategy._orderspending = [_OnFeed(order, feed_of.get(id(order.data), order.data)) for order in orders]
    strategy._tradespending = [_OnFeed(trade, feed_of.get(id(trade.data), trade.data)) for trade in trades]
    strategy._next_observers(minperstatus)
    strategy._orderspending, strategy._tradespending = orders, trades
    strategy.clear()


def queue_notifications(orders: Iterable[Any], quick: bool, lean: bool = True) -> None:
    """Queue order notifications with their strategies as ``Strategy._addnotification`` does,
    booking the trades of fills; through it with ``quick`` (cerebro's quicknotify, which also
    notifies at once) or without ``lean``."""
    for order in orders:
        params = order.p
        if quick or not lean:
            params.owner._addnotification(order, quicknotify=quick)
            continue
        if not params.simulated:
            params.owner._orderspending.append(order)
        if order.executed.size:
            _book_trades(params.owner, order)


def _book_trades(strategy: bt.Strategy, order: Any) -> None:
    """The trade bookkeeping of ``Strategy._addnotification`` for a fill (not quicknotify):
    each execution closes and/or opens the current trade of its data and trade id; trades
    that close or open are queued for ``notify_trade`` as copies."""
    params = order.p
    data = params.data
    tradedata = data._compensate if data._compensate is not None else data
    tradeid = params.tradeid
    trades = strategy._trades[tradedata][tradeid]
    if trades:
        trade = trades[-1]
    else:
        trade = Trade(data=tradedata, tradeid=tradeid, historyon=strategy._tradehistoryon)
        trades.append(trade)
    pending = strategy._tradespending
    comminfo = order.comminfo
    for bit in order.executed.iterpending():
        if bit is None:
            break
        if bit.closed:
            trade.update(order, bit.closed, bit.price, bit.closedvalue, bit.closedcomm, bit.pnl, comminfo=comminfo)
            if trade.isclosed:
                pending.append(_copied(trade))
        if bit.opened:
            if trade.isclosed:
                trade = Trade(data=tradedata, tradeid=tradeid, historyon=strategy._tradehistoryon)
                trades.append(trade)
            trade.update(order, bit.opened, bit.price, bit.openedvalue, bit.openedcomm, bit.pnl, comminfo=comminfo)
            if trade.isclosed:  # trade ids that took the position to 0 and back
                pending.append(_copied(trade))
        if trade.justopened:
            pending.append(_copied(trade))


def _copied(item: Any) -> Any:
    """``copy.copy`` of a plain object, without the generic ``__reduce_ex__`` path."""
    new = object.__new__(type(item))
    new.__dict__.update(item.__dict__)
    return new


def observed(strategy: bt.Strategy) -> bool:
    """Whether the strategy has analyzers or observers to step."""
    return bool(strategy.analyzers) or bool(strategy.observers)


def deliver_notifications(strategies: Iterable[bt.Strategy], quick: bool, force: bool = False,
                          observed: bool = True, lean: bool = True) -> None:
    """Hand queued order/trade notifications to strategies and their analyzers, now.

    Cash and value go out at steps (where analyzers read them), here only with ``force``
    (a cash flow such as funding). With ``quick`` (cerebro's ``quicknotify``) orders were
    already handed over as they were queued. Unless ``observed`` (no steps will follow),
    they are done with here rather than kept for the observers of the next step. ``lean``:
    without going through ``Strategy._notify`` when it would only hand over orders and trades
    (always through it when the strategy's class overrides it).
    """
    for strategy in strategies:
        orders, trades = strategy._orderspending, strategy._tradespending
        if force:
            strategy._notify()
        elif orders and not quick:
            if lean and not _own_notify(strategy):
                _notify_orders(strategy, orders, trades)
            else:
                strategy._notify(qorders=orders, qtrades=trades)  # orders given: no cash/value
        if not observed:
            strategy.clear()
        elif orders or trades:
            stash_orders, stash_trades = _stash(strategy)
            stash_orders += orders
            stash_trades += trades
            strategy._orderspending, strategy._tradespending = [], []


def _own_notify(strategy: bt.Strategy) -> bool:
    """Whether the strategy's class overrides ``Strategy._notify`` (``SignalStrategy`` clears
    its pending-order sentinel there): then notifications must go through it."""
    return type(strategy)._notify is not bt.Strategy._notify


def _notify_orders(strategy: bt.Strategy, orders: list, trades: list) -> None:
    """What ``Strategy._notify`` does with orders and trades (not quicknotify): each to the
    strategy (historical orders only if asked for), then to its analyzers."""
    analyzers = ([*strategy.analyzers, *strategy._slave_analyzers]
                 if len(strategy.analyzers) or strategy._slave_analyzers else ())
    for order in orders:
        if order.exectype != Order.Historical or order.histnotify:
            strategy.notify_order(order)
        for analyzer in analyzers:
            analyzer._notify_order(order)
    for trade in trades:
        strategy.notify_trade(trade)
        for analyzer in analyzers:
            analyzer._notify_trade(trade)


def clock_step(strategies: Iterable[bt.Strategy], timestamp_num: float) -> None:
    """One step of a tick-only run's analyzer clock at ``timestamp_num`` (a bt date number):
    the strategies' lines move one 'bar', then cash/value, analyzers and observers."""
    for strategy in strategies:
        strategy.forward()
        strategy.lines.datetime[0] = timestamp_num
    for strategy in strategies:
        strategy._notify()  # nothing pending (stashed): cash and value only
        _unstash(strategy)
        strategy._next_analyzers(-1)
        strategy._next_observers(-1)
        strategy.clear()


def release_finished(broker: BackBroker, strategies: Iterable[bt.Strategy]) -> list:
    """Drop what backtrader keeps of finished orders and closed trades but never reads again,
    so that memory does not grow with every fill; returns the closed trades dropped.

    backtrader appends every notified order to ``strategy._orders`` (never read), every
    submitted order to ``broker.orders`` (read by ``orderstatus``, which falls back to the
    order itself) and to its bracket group in ``broker._pchildren`` (emptied, never deleted,
    when a lone order fills), and every trade to ``strategy._trades`` (where only the last of each data
    and trade id is updated: the ones before it are closed).
    """
    for strategy in strategies:
        strategy._orders.clear()
    if broker.orders:
        broker.orders = [order for order in broker.orders if order.alive()]
    groups = broker._pchildren  # parent ref -> orders of its bracket (a lone order is its own)
    for ref in [ref for ref, orders in groups.items() if not any(order.alive() for order in orders)]:
        del groups[ref]
    closed: list = []
    for strategy in strategies:
        for by_id in strategy._trades.values():
            for trades in by_id.values():
                if len(trades) > 1:
                    closed += trades[:-1]
                    del trades[:-1]
    return closed


def closed_trades(strategy: bt.Strategy) -> list:
    return [trade for by_id in strategy._trades.values() for trades in by_id.values()
            for trade in trades if trade.isclosed]


def indicators(strategy: bt.Strategy) -> list:
    return list(strategy._lineiterators[LineIterator.IndType])


def recount_warm_up(strategy: bt.Strategy, leaving_out: list) -> None:
    """Recount the strategy's warm-up (backtrader's ``_periodset``) without ``leaving_out``."""
    if not leaving_out:
        return
    kept = strategy._lineiterators[LineIterator.IndType]
    left_out = {id(indicator) for indicator in leaving_out}
    strategy._lineiterators[LineIterator.IndType] = [i for i in kept if id(i) not in left_out]
    try:
        strategy._periodset()
    finally:
        strategy._lineiterators[LineIterator.IndType] = kept


# -- broker ----------------------------------------------------------------------------------
# BackBroker keeps its books in plain attributes set up by ``init`` (cash, positions, the
# pending/submitted order queues, notifications, commissions); its public methods cover a
# bar run's needs, these what a tick run does to them between bars.

def notification_queue(broker: BackBroker) -> Any:
    """The broker's queue of order notifications (truthy while one waits)."""
    return broker.notifs


def pending_orders(broker: BackBroker) -> Any:
    """The orders accepted and working (a deque BackBroker.next matches): fills take an order
    out while they execute it, as ``BackBroker.next`` does, so OCO checks do not see it."""
    return broker.pending


def submitted_orders(broker: BackBroker) -> Any:
    """The orders submitted and not yet checked for cash (``check_submitted`` takes them)."""
    return broker.submitted


def positions(broker: BackBroker) -> dict:
    """Every data the broker holds (or held) a position in, to its ``Position``."""
    return broker.positions


def commissions(broker: BackBroker) -> dict:
    """The commission schemes by data name (``None``: the default one)."""
    return broker.comminfo


def starting_cash(broker: BackBroker) -> float:
    return broker.startingcash


def set_cash_now(broker: BackBroker, cash: float) -> None:
    """The cash balance becomes ``cash`` at once, as ``_execute`` books a fill
    (``add_cash``, the public way, waits for the next bar)."""
    broker.cash = cash


def start_with_cash(broker: BackBroker, cash: float) -> None:
    """The broker starts from ``cash`` (a live account's balance): its cash, starting cash
    and ``cash`` parameter, as ``setcash`` before a run and ``start`` make them."""
    broker.cash = broker.startingcash = broker.p.cash = cash


def take_credit_interest(broker: BackBroker, data: Any) -> float:
    """The credit interest owed on ``data``'s position so far, settled (with ``int2pnl`` it
    goes into the commission of the fill that closes it, as in ``_execute``)."""
    return broker.d_credit.pop(data, 0.0)


def copy_broker_settings(source: BackBroker, target: BackBroker) -> None:
    """Give ``target`` every BackBroker param and the commission schemes of ``source``
    (before ``target.init()``, which takes its cash from the params)."""
    for name in BackBroker.params._getkeys():
        setattr(target.p, name, getattr(source.p, name))
    target.comminfo = dict(source.comminfo)


def clone_order(order: Order) -> Order:
    """What ``Order.clone`` makes (the copy a notification carries), at a third of the cost."""
    executed = order.executed
    executed.p1, executed.p2 = executed.p2, len(executed.exbits)  # OrderData.markpending
    clone = object.__new__(type(order))
    clone.__dict__.update(order.__dict__)
    clone.executed = copied = object.__new__(OrderData)
    copied.__dict__.update(executed.__dict__)
    return clone


# -- orders ---------------------------------------------------------------------------------
LEAN_EXECTYPES = (Order.Market, Order.Limit, Order.Stop, Order.StopLimit)
_SECOND = 1.0 / 86400.0  # in backtrader date numbers


def new_order(cls: type[Order], owner: Any, data: Any, size: float, price: float | None, plimit: float | None,
              exectype: int | None, tradeid: Any, histnotify: bool) -> Order:
    """``cls(owner=owner, data=data, ...)`` (a BuyOrder or SellOrder) exactly as backtrader builds a
    lone order (no parent, OCO, trailing or validity; ``exectype`` None or in ``LEAN_EXECTYPES``)
    on a data with no time zone, at a fraction of the cost of its metaclass and ``__init__``."""
    params = object.__new__(cls.params)
    values = params.__dict__
    values.update(_order_defaults(cls))
    values.update(owner=owner, data=data, size=size, price=price, pricelimit=plimit, exectype=exectype,
                  tradeid=tradeid, histnotify=histnotify)
    order = object.__new__(cls)
    order.params = order.p = params
    order.ref = next(Order.refbasis)
    order.broker = None
    order.info = AutoOrderedDict()
    order.comminfo = None
    order.triggered = False
    order._active = True
    order.status = Order.Created
    order.plimit = plimit
    if exectype is None:
        order.exectype = Order.Market
    if cls.ordtype != Order.Buy:
        size = order.size = -size
    lines = data.lines
    pclose = lines.close[0]
    dcreated = lines.datetime[0]
    order.created = OrderData(dt=dcreated, size=size, price=pclose if not price and not plimit else price,
                              pricelimit=plimit, pclose=pclose, trailamount=None, trailpercent=None)
    order._limitoffset = 0.0
    order.executed = OrderData(remsize=size)
    order.position = 0
    order.dteos = _end_of_session(data, dcreated)
    return order


def _order_defaults(cls: type[Order]) -> dict:
    defaults = cls.__dict__.get("_bc_defaults")
    if defaults is None:
        defaults = dict(cls.params._getitems())
        cls._bc_defaults = defaults
    return defaults


def _end_of_session(data: Any, num: float) -> float:
    """``Order.dteos`` of an order created at date number ``num``: the end of its session day,
    worked out as backtrader does once per day of ``data``, then reused inside the day."""
    cached = data.__dict__.get("_bc_eos")
    if cached is not None and cached[0] <= num <= cached[1]:
        return cached[2]
    dtime = num2date(num, tz=data._tz)
    session = data.p.sessionend
    dteos = dtime.replace(hour=session.hour, minute=session.minute, second=session.second,
                          microsecond=session.microsecond)
    if dteos < dtime:
        dteos += datetime.timedelta(days=1)
    eos = data.date2num(dteos)
    if data._tz is None and math.floor(num) == math.floor(eos):  # one day, both sides well inside it
        data._bc_eos = (math.floor(num) + _SECOND, eos - _SECOND, eos)
    return eos


def lone_order(broker: BackBroker, order: Order) -> None:
    """Book a lone order as ``BackBroker.buy``/``submit``/``transmit`` do: its own OCO group and
    bracket group, in ``broker.orders``, Submitted (and notified)."""
    ref = order.ref
    broker._ocos[ref] = ref
    broker._ocol[ref].append(ref)
    broker._pchildren[ref].append(order)
    order.submit()
    broker.orders.append(order)
    broker.notify(order)


def lean_data(data: Any) -> bool:
    """Whether orders on ``data`` may take the lean path: no compensation data, no time zone."""
    return data._compensate is None and data._tz is None


def set_fill_size(broker: BackBroker, size_of: Callable[[Any, float, int], float] | None) -> None:
    """Let ``size_of(order, price, ago)`` decide how much of an order ``execute`` fills."""
    broker.p.filler = size_of


def execute(broker: BackBroker, order: Any, price: float, when_num: float) -> None:
    """Execute (part of) ``order`` at ``price`` at date number ``when_num``: cash, commission,
    position, trade and notification bookkeeping, all backtrader's own."""
    broker._execute(order, ago=0, price=price, dtcoc=when_num)


def expire(order: Any) -> None:
    """Mark ``order`` Expired whatever its validity (``Order.expire`` only expires a passed
    ``valid=``; a venue expires IOC/FOK rests and its own time-in-force ends)."""
    OrderBase.expire(order)


def adopt_order(broker: BackBroker, order: Any) -> None:
    """Register an order made outside ``buy``/``sell`` (one found open at the exchange) as
    BackBroker's own do: in no OCO group."""
    broker._ocoize(order, None)


def oco_group(broker: BackBroker, order: Any) -> int:
    """The ref of the first order of ``order``'s OCO group (its own ref when it has none)."""
    return broker._ocos.get(order.ref, order.ref)


def oco_check(broker: BackBroker, order: Any) -> None:
    broker._ococheck(order)


def bracket_done(broker: BackBroker, order: Any, cancel: bool = False) -> None:
    """A bracket order finished: release its children (filled) or cancel them (``cancel``)."""
    broker._bracketize(order, cancel=cancel)
    while broker._toactivate:
        broker._toactivate.popleft().activate()


def slipped(broker: BackBroker, buy: bool, cap: float, price: float, limited: bool) -> float | None:
    """backtrader's slippage of a fill at ``price`` (None: no change)."""
    slip = broker._slip_up if buy else broker._slip_down
    return slip(cap, price, doslip=not limited or broker.p.slip_limit, lim=limited)


def cash_pending(broker: BackBroker) -> bool:
    """Whether ``add_cash`` queued cash that the next valuation takes in."""
    return bool(broker._cash_addition)


def revalue(broker: BackBroker) -> None:
    broker._get_value(datas=None, lever=False)


# -- data feeds ------------------------------------------------------------------------------
def data_feeds(cerebro: bt.Cerebro) -> list:
    """The data feeds added to ``cerebro`` (``adddata``, ``resampledata``...)."""
    return list(cerebro.datas)


@contextmanager
def datas_replaced(cerebro: bt.Cerebro, stand_ins: dict[str, Any] | None) -> Iterator[None]:
    """For one ``Cerebro.run``: the datas ``stand_ins`` (by name) are cerebro's data feeds,
    so strategies, analyzers and observers get them as ``self.datas`` (None: leave the feeds)."""
    if stand_ins is None:
        yield
        return
    datas, by_name = cerebro.datas, cerebro.datasbyname
    cerebro.datas, cerebro.datasbyname = list(stand_ins.values()), dict(stand_ins)
    try:
        yield
    finally:
        cerebro.datas, cerebro.datasbyname = datas, by_name


def data_name(data: Any) -> str | None:
    """The name a data feed was added under (``adddata(data, name=...)``), if any."""
    return data._name


def name_data(data: Any, name: str) -> None:
    """Name a data made outside ``adddata`` (what ``adddata(data, name=...)`` sets)."""
    data._name = name


def set_timeframe(data: Any, timeframe: int, compression: int) -> None:
    """The period of ``data``'s values, which analyzers default to (set by a feed's params
    before ``start``, which this data never gets)."""
    data._timeframe, data._compression = timeframe, compression


# -- lines -----------------------------------------------------------------------------------
def start_data(data: Any, cerebro: bt.Cerebro) -> None:
    data.setenvironment(cerebro)
    data.reset()
    data._start()


def root_clock(item: Any) -> Any:
    """What ultimately clocks an indicator: follow ``_clock`` down to a data."""
    seen = set()
    while getattr(item, "_clock", None) is not None and id(item) not in seen:
        seen.add(id(item))
        item = item._clock
    return item


def slot_writer(time_line: Any, price_lines: tuple) -> Callable[[float, float], None]:
    """A function writing (date number, price) into the current slot of these line buffers,
    as ``line[0] = value`` does, minus the method calls when no line is bound to another."""
    if time_line.bindings or any(line.bindings for line in price_lines):
        def write_bound(num: float, price: float) -> None:
            time_line[0] = num
            for line in price_lines:
                line[0] = price

        return write_bound
    first, second, third, fourth = price_lines

    def write(num: float, price: float) -> None:
        time_line.array[time_line._idx] = num
        first.array[first._idx] = second.array[second._idx] = price
        third.array[third._idx] = fourth.array[fourth._idx] = price

    return write


def unbounded(line: Any) -> bool:
    return line.mode == line.UnBounded


def fill_line(line: Any, values: bytes) -> None:
    """Give a line buffer all its values at once (float64 bytes), positioned at the end."""
    import array

    line.reset()
    line.array = array.array("d", values)
    line.lencount = len(line.array)
    line.idx = line.lencount - 1


@contextmanager
def plotted_as(indicator: Any, data: Any, columns: list[bytes]) -> Iterator[None]:
    """For one plot: ``indicator``'s lines hold ``columns`` (float64 bytes, one value per bar
    of ``data``) and ``data`` clocks it, so backtrader's plotter draws it with ``data``;
    its own values and clock come back after."""
    lines = list(indicator.lines)
    kept = [(line.array, line.idx, line.lencount) for line in lines]
    clock = indicator._clock
    for line, values in zip(lines, columns):
        fill_line(line, values)
    indicator._clock = data
    try:
        yield
    finally:
        indicator._clock = clock
        for line, (values_, idx, lencount) in zip(lines, kept):
            line.array, line.lencount = values_, lencount
            line.idx = idx


def compute_once(indicators_: Iterable[Any], items: Iterable[Any]) -> None:
    """backtrader's vectorised pass over filled lines, then every item back to its start."""
    for indicator in indicators_:
        indicator._once()
    for item in items:
        item.home()


def advance(buffers: list) -> None:
    """Move line buffers one value forward (LineBuffer.advance without the method calls)."""
    for line in buffers:
        line._idx += 1
        line.lencount += 1


def indicator_step(indicator: Any) -> None:
    indicator._next()


check_backtrader()
