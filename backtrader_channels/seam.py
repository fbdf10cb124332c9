"""The one seam to backtrader's internals.

backtrader has no public API for driving strategies event by event, for executing an
order at a price of our choosing, or for filling a line buffer from an array. Every place
this package reaches into backtrader's private names goes through this module, and
``check_backtrader()`` runs at import: on a backtrader release other than the ones this
was written against, it verifies that every name used here still exists with the
expected parameters, and otherwise raises ``BacktraderIncompatible`` naming what moved.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import backtrader as bt
from backtrader.brokers import BackBroker
from backtrader.linebuffer import LineBuffer
from backtrader.lineiterator import LineIterator
from backtrader.strategy import MetaStrategy

__all__ = [
    "KNOWN_VERSIONS",
    "BacktraderIncompatible",
    "check_backtrader",
]

KNOWN_VERSIONS = ("1.9.78.123",)

# every private (or undocumented) name used below, by owner
_REQUIRED: dict[Any, tuple[str, ...]] = {
    bt.Cerebro: ("run", "runstop", "_next_writers", "runstrategies"),
    bt.Strategy: ("_next", "_notify", "_addnotification", "_next_analyzers", "_next_observers",
                  "_periodset", "forward", "clear"),
    MetaStrategy: ("dopreinit",),
    BackBroker: ("_execute", "_ococheck", "_bracketize", "_slip_up", "_slip_down", "_get_value",
                 "check_submitted", "submit_accept", "get_notification", "notify"),
    LineIterator: ("_next", "_once", "home"),
    LineBuffer: ("reset", "home", "UnBounded"),
    bt.feed.DataBase: ("_start", "forward"),
}
_PARAMETERS: dict[Callable[..., Any], tuple[str, ...]] = {
    BackBroker._execute: ("self", "order", "ago", "price", "cash", "position", "dtcoc"),
    BackBroker._slip_up: ("self", "pmax", "price", "doslip", "lim"),
    BackBroker._slip_down: ("self", "pmin", "price", "doslip", "lim"),
    BackBroker._bracketize: ("self", "order", "cancel"),
    bt.Strategy._addnotification: ("self", "order", "quicknotify"),
    bt.Strategy._next_analyzers: ("self", "minperstatus", "once"),
}
# attributes set on instances in __init__, checked on fresh objects
_INSTANCE_FIELDS: dict[str, tuple[str, ...]] = {
    "BackBroker": ("notifs", "pending", "submitted", "_toactivate", "_ocos", "positions", "comminfo"),
    "Cerebro": ("_event_stop", "_dooptimize", "strats", "optcbs", "runstrats", "runwriters", "datas",
                "datasbyname"),
    "LineBuffer": ("array", "idx", "lencount", "mode", "_idx"),
}


class BacktraderIncompatible(ImportError):
    """The installed backtrader moved an internal this package relies on."""


def check_backtrader() -> None:
    """Raise ``BacktraderIncompatible`` if an unknown backtrader release changed a used internal."""
    if bt.__version__ in KNOWN_VERSIONS:
        return
    missing = [f"{owner.__name__}.{name}" for owner, names in _REQUIRED.items()
               for name in names if not hasattr(owner, name)]
    for function, expected in _PARAMETERS.items():
        if tuple(inspect.signature(function).parameters) != expected:
            missing.append(f"{function.__qualname__}{expected} (parameters changed)")
    samples = {"BackBroker": BackBroker(), "Cerebro": bt.Cerebro(), "LineBuffer": LineBuffer()}
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


def step_writers(cerebro: bt.Cerebro, strategies: list) -> None:
    if cerebro.runwriters:
        cerebro._next_writers(strategies)


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
def bar_step(strategy: bt.Strategy) -> None:
    """One bar of backtrader's own machinery: indicators, ``next``/``prenext``, analyzers, observers."""
    strategy._next()


def queue_notification(order: Any, quick: bool) -> None:
    order.owner._addnotification(order, quicknotify=quick)


def notification_step(strategies: Iterable[bt.Strategy], timestamp_num: float | None) -> None:
    """Deliver queued order/trade notifications and cash/value to ``strategies``.

    With ``timestamp_num`` (runs without bar feeds) the step is also a 'bar' for the
    strategies' lines, analyzers and observers, at that time.
    """
    for strategy in strategies:
        if timestamp_num is not None:
            strategy.forward()
            strategy.lines.datetime[0] = timestamp_num
    for strategy in strategies:
        strategy._notify()
        if timestamp_num is not None:
            strategy._next_analyzers(-1)
            strategy._next_observers(-1)
        strategy.clear()


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
def notification_queue(broker: BackBroker) -> Any:
    """The broker's queue of order notifications (truthy while one waits)."""
    return broker.notifs


def set_fill_size(broker: BackBroker, size_of: Callable[[Any, float, int], float] | None) -> None:
    """Let ``size_of(order, price, ago)`` decide how much of an order ``execute`` fills."""
    broker.p.filler = size_of


def execute(broker: BackBroker, order: Any, price: float, when_num: float) -> None:
    """Execute (part of) ``order`` at ``price`` at date number ``when_num``: cash, commission,
    position, trade and notification bookkeeping, all backtrader's own."""
    broker._execute(order, ago=0, price=price, dtcoc=when_num)


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


def revalue(broker: BackBroker) -> None:
    broker._get_value(datas=None, lever=False)


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


def unbounded(line: Any) -> bool:
    return line.mode == line.UnBounded


def fill_line(line: Any, values: bytes) -> None:
    """Give a line buffer all its values at once (float64 bytes), positioned at the end."""
    import array

    line.reset()
    line.array = array.array("d", values)
    line.lencount = len(line.array)
    line.idx = line.lencount - 1


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
