"""Parameter sweeps over days and symbols on every core, or on a Dask cluster (docs/sweeps.md).

``from backtrader_channels.sweep import sweep``; the module itself is callable too, so after
``import backtrader_channels.sweep`` a call ``backtrader_channels.sweep(...)`` runs a sweep.
Importing this package is light: pandas comes with ``sweep``, Dask when a sweep runs on it.
"""

import sys
import types
from typing import Any

from .spec import ChannelSpec, JobSpec, StrategyRef, build_jobs, parameter_grid

__all__ = ["ChannelSpec", "JobSpec", "StrategyRef", "SweepResult", "build_jobs", "parameter_grid",
           "strategy_ref", "sweep"]

_FROM_API = ("SweepResult", "strategy_ref", "sweep")


def __getattr__(name: str) -> Any:
    if name in _FROM_API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
