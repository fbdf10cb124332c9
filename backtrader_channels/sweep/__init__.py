"""Parameter sweeps over days and symbols on every core, or on a Dask cluster (docs/sweeps.md).

``from backtrader_channels.sweep import sweep``; the module itself is callable too, so after
``import backtrader_channels.sweep`` a call ``backtrader_channels.sweep(...)`` runs a sweep.
Dask is imported only when a sweep runs on it.
"""

import sys
import types

from .api import SweepResult, strategy_ref, sweep
from .spec import ChannelSpec, JobSpec, StrategyRef, build_jobs, parameter_grid

__all__ = ["ChannelSpec", "JobSpec", "StrategyRef", "SweepResult", "build_jobs", "parameter_grid",
           "strategy_ref", "sweep"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
