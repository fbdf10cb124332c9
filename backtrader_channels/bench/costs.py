"""What costs what: one workload changed one thing at a time."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import backtrader as bt

from .inputs import Inputs
from .measure import Measured, Row, Sizes, rate_row
from .scenarios import scenario_books, scenario_bridge, scenario_limits, scenario_ticks
from .strategies import EmptyTick, NextPerTrade, TickArithmetic

# --- what costs what -----------------------------------------------------------------------


def _cost_limits(orders: int, **run_kw: Any) -> Callable[[Inputs, Sizes], Measured]:
    def run(inputs: Inputs, sizes: Sizes) -> Measured:
        n = sizes.ticks
        return scenario_limits(inputs.trades(n), inputs.bars(n), orders=orders, **run_kw)
    return run


def _cost_ticks(strategy: type[bt.Strategy], **run_kw: Any) -> Callable[[Inputs, Sizes], Measured]:
    return lambda inputs, sizes: scenario_ticks(inputs.trades(sizes.ticks), strategy, **run_kw)


def _gc_tuned(run: Callable[[Inputs, Sizes], Measured]) -> Callable[[Inputs, Sizes], Measured]:
    """``run`` with the user-side GC workaround: ``gc.freeze()`` and a gen-0 threshold of 100k."""
    def tuned(inputs: Inputs, sizes: Sizes) -> Measured:
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(100_000, *thresholds[1:])
        try:
            return run(inputs, sizes)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
    return tuned


def _cost_books(depth: int) -> Callable[[Inputs, Sizes], Measured]:
    return lambda inputs, sizes: scenario_books(inputs, sizes, trades=False, depth=depth)


COSTS: dict[str, tuple[str, Callable[[Inputs, Sizes], Measured]]] = {
    "bars, no order (bulk)": ("trades/s", _cost_limits(0)),
    "bars + 2 resting limits (bulk)": ("trades/s", _cost_limits(2)),
    "bars + 10 resting limits (bulk)": ("trades/s", _cost_limits(10)),
    "bars + 50 resting limits (bulk)": ("trades/s", _cost_limits(50)),
    "bars + 2 resting limits, equity_interval=60": ("trades/s", _cost_limits(2, equity_interval=60.0)),
    "empty notify_tick": ("events/s", _cost_ticks(EmptyTick)),
    "notify_tick with arithmetic (target 1)": ("events/s", _cost_ticks(TickArithmetic)),
    "notify_tick, equity_interval=60": ("events/s", _cost_ticks(TickArithmetic, equity_interval=60.0)),
    "notify_tick, gc.freeze() + gc threshold 100k": ("events/s", _gc_tuned(_cost_ticks(TickArithmetic))),
    "next() after every trade, no tick callback": ("events/s", _cost_ticks(NextPerTrade)),
    "ChannelBridge + SMA(20) (target 4)": ("events/s",
                                          lambda inputs, sizes: scenario_bridge(inputs.trades(sizes.ticks))),
    "2 books, best bid/ask read per update": ("updates/s", _cost_books(0)),
    "2 books, best bid/ask + depth(10) per update": ("updates/s", _cost_books(10)),
}


def bench_cost(name: str, inputs: Inputs, sizes: Sizes) -> list[Row]:
    """One row of the cost table: ``COSTS[name]``, one round."""
    unit, run = COSTS[name]
    return [rate_row("cost", name, [run(inputs, sizes)], None, unit=unit)]


def bench_costs(inputs: Inputs, sizes: Sizes) -> list[Row]:
    """The same inputs with one thing changed at a time (no goals: for choosing); one round each."""
    return [row for name in COSTS for row in bench_cost(name, inputs, sizes)]
