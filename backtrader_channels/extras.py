"""Optional parts of the package: the error that names the extra to install."""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(extra: str, what: str, error: ImportError) -> ImportError:
    """An ImportError for ``error`` (a third-party import that failed) saying which extra
    brings the missing package: ``the chart needs matplotlib: pip install
    'backtrader-channels[plot]'``."""
    module = (error.name or "").partition(".")[0] or "an optional package"
    needs = "need" if what.endswith("s") and not what.endswith("ss") else "needs"
    return ImportError(f"{what} {needs} {module}: pip install 'backtrader-channels[{extra}]'", name=error.name)
