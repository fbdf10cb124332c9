"""Strategy files: the ``bt.Strategy`` subclass a Python file defines, for the command line
(``btchannels backtest/live/replay``) and sweeps.

A file that cannot give one strategy class raises ``StrategyFileError`` (a ``ValueError``)
naming the file and what is wrong; the command line turns that into its one-line exit, a
sweep into failed rows.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import backtrader as bt

__all__ = ["StrategyFileError", "load_strategy"]


class StrategyFileError(ValueError):
    """A strategy file that is missing, not a module, or without the one strategy class asked for."""


def load_strategy(path: Path, name: str | None = None) -> type[bt.Strategy]:
    """The ``bt.Strategy`` subclass defined in the Python file ``path`` (``name`` picks one
    of several). Errors the file itself raises while it runs propagate unchanged."""
    if not path.is_file():
        raise StrategyFileError(f"strategy file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"btchannels_strategy_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise StrategyFileError(f"cannot load {path} as a Python module (a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # backtrader looks strategies' modules up by name
    spec.loader.exec_module(module)
    found = {
        value.__name__: value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, bt.Strategy) and value.__module__ == module.__name__
    }
    if name is not None:
        if name not in found:
            raise StrategyFileError(f"no strategy class {name!r} in {path} (found: {', '.join(found) or 'none'})")
        return found[name]
    if len(found) != 1:
        raise StrategyFileError(f"{path} defines {len(found)} strategy classes ({', '.join(found) or 'none'}); "
                         "choose one with --strategy")
    return next(iter(found.values()))
