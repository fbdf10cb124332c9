"""Strategy files: the ``bt.Strategy`` subclass a Python file defines, for the command line
(``btchannels backtest/live/replay``) and sweeps.

A file that cannot give one strategy class raises ``StrategyFileError`` (a ``ValueError``)
naming the file (and the line, for a syntax error or a failed import) and what is wrong;
the command line turns that into its one-line exit, a sweep into failed rows.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

import backtrader as bt

__all__ = ["StrategyFileError", "load_strategy"]


class StrategyFileError(ValueError):
    """A strategy file that is missing, not a module, or without the one strategy class asked for."""


def load_strategy(path: Path, name: str | None = None) -> type[bt.Strategy]:
    """The ``bt.Strategy`` subclass defined in the Python file ``path`` (``name`` picks one
    of several). A file that cannot be read, does not compile or fails an import raises
    ``StrategyFileError``; other errors the file raises while it runs propagate unchanged."""
    if not path.is_file():
        raise StrategyFileError(f"strategy file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"btchannels_strategy_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise StrategyFileError(f"cannot load {path} as a Python module (a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # backtrader looks strategies' modules up by name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:  # also a file that is not UTF-8 text
        where = f"{path}, line {error.lineno}" if error.lineno else str(path)
        raise StrategyFileError(f"{where}: {error.msg}") from None
    except ImportError as error:
        raise StrategyFileError(f"{_line_in(path, error)}: {error}") from None
    except OSError as error:
        raise StrategyFileError(f"{path}: cannot read it ({error.strerror})") from None
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


def _line_in(path: Path, error: BaseException) -> str:
    """``'PATH, line N'``: the innermost line of ``path`` in ``error``'s traceback."""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if Path(frame.filename).resolve() == path.resolve()]
    return f"{path}, line {lines[-1]}" if lines else str(path)
