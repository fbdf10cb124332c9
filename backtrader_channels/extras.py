"""Optional parts of the package: the error that names the extra to install."""

from __future__ import annotations

__all__ = ["EXTRA_OF", "install_hint", "missing_extra"]

# the extra of pyproject.toml that brings each optional top-level package (the first one
# listing it, for a package in several)
EXTRA_OF = {
    "ccxt": "live", "aiohttp": "live", "matplotlib": "plot", "plotly": "report", "pandas": "sweep", "dask": "sweep",
    "distributed": "sweep", "tqdm": "sweep", "redis": "bus", "hiredis": "bus", "msgpack": "bus",
    "nautilus_trader": "peers", "hftbacktest": "peers", "numba": "fast",
}


def install_hint(extra: str) -> str:
    """How to install an extra: ``pip install 'backtrader-channels[plot]'``."""
    return f"pip install 'backtrader-channels[{extra}]'"


def missing_extra(extra: str, what: str, error: ImportError) -> ImportError:
    """An ImportError for ``error`` (a third-party import that failed) saying which extra
    brings the missing package: ``the chart needs matplotlib: pip install
    'backtrader-channels[plot]'``."""
    module = (error.name or "").partition(".")[0] or "an optional package"
    plural = what.endswith("s") and not what.endswith(("ss", "us"))  # "the live feeds", not "the Redis bus"
    return ImportError(f"{what} {'need' if plural else 'needs'} {module}: {install_hint(extra)}", name=error.name)
