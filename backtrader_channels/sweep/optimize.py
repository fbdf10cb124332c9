"""``cerebro.optstrategy`` in tick mode on several cores: one parameter set per task, in
forked worker processes (a forked child inherits the Cerebro as built, channels and all, so
nothing of it needs pickling). Results come back in the serial order.

As with backtrader's own multi-process optimisation, each strategy comes back as a
``backtrader.cerebro.OptReturn``: ``params``/``p``, ``strategycls``, its own ``tick_result``
and ``analyzers`` whose ``get_analysis()`` returns what the analyzer computed. Only these
values cross back from a worker (never classes), so strategies defined anywhere work.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from typing import Any

import backtrader as bt

from .. import seam

__all__ = ["optimize_in_processes"]

_forked: dict[str, Any] = {}  # what a forked worker runs: the Cerebro, the combinations, run keywords


def optimize_in_processes(cerebro: bt.Cerebro, **run_kwargs: Any) -> list[list[Any]]:
    """Run every parameter combination of ``cerebro.optstrategy`` in its own task, on
    ``maxcpus`` processes (None: one per core); a list per combination, as a serial run."""
    combos = list(itertools.product(*seam.strategy_entries(cerebro)))
    maxcpus = run_kwargs.get("maxcpus", cerebro.p.maxcpus)
    processes = min(maxcpus or os.cpu_count() or 1, len(combos))
    if "fork" not in multiprocessing.get_all_start_methods():  # Windows: one process, as maxcpus=1
        processes = 1
    run_kwargs = {**run_kwargs, "maxcpus": 1}
    _forked.update(cerebro=cerebro, combos=combos, run_kwargs=run_kwargs)
    try:
        if processes <= 1:
            outcomes = [_run_combo(i) for i in range(len(combos))]
        else:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                outcomes = pool.map(_run_combo, range(len(combos)), chunksize=1)
    finally:
        _forked.clear()
    results = [
        [_opt_return(part[0], *values) for part, values in zip(combo, outcome)]
        for combo, outcome in zip(combos, outcomes)
    ]
    seam.finish_optimisation(cerebro, results)
    if results:
        cerebro.tick_result = results[-1][0].tick_result
    return results


class Analysis:
    """What an analyzer computed in a worker: ``get_analysis()``, as on the analyzer."""

    def __init__(self, analysis: Any) -> None:
        self._analysis = analysis

    def get_analysis(self) -> Any:
        return self._analysis


def _run_combo(index: int) -> list[tuple[dict, list, Any]]:
    """In a worker: run one combination on the forked Cerebro; per strategy its parameter
    values, its analyzers' (name, analysis) and its tick_result (plain picklable values)."""
    cerebro = _forked["cerebro"]
    saved = seam.strategy_entries(cerebro)
    seam.set_strategy_entries(cerebro, [[part] for part in _forked["combos"][index]])
    try:
        (strategies,) = cerebro.run(mode="tick", **_forked["run_kwargs"])
    finally:
        seam.set_strategy_entries(cerebro, saved)
    return [
        (
            seam.param_values(strategy.params),
            [(name, analyzer.get_analysis()) for name, analyzer in
             zip(strategy.analyzers.getnames(), strategy.analyzers)],
            strategy.tick_result,
        )
        for strategy in strategies
    ]


def _opt_return(strategycls: type, params: dict, analyses: list, tick_result: Any) -> Any:
    """The OptReturn of one strategy, rebuilt in the parent process."""
    analyzers = [(name, Analysis(analysis)) for name, analysis in analyses]
    return seam.opt_return(strategycls, params, analyzers, tick_result=tick_result)
