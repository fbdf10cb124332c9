"""``sweep(...)``: a parameter grid over days and symbols, run on every core or a Dask cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extras import missing_extra

try:
    import pandas as pd
except ImportError as error:
    raise missing_extra("sweep", "sweeps", error) from error

from .execute import execute
from .results import RESERVED, best_sets, build_table, plot_heatmap, write_table
from .spec import StrategyRef, build_jobs

__all__ = ["SweepResult", "strategy_ref", "sweep"]

Files = str | Sequence[str]


@dataclass
class SweepResult:
    """A sweep's table (one row per job, or per job and day), its failures and files."""

    table: pd.DataFrame
    param_names: list[str]
    jobs: int
    cancelled: bool = False
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def failures(self) -> pd.DataFrame:
        """The rows of jobs that raised: parameters, symbol, day and traceback (``error``)."""
        return self.table[self.table["error"] != ""]

    @property
    def complete(self) -> bool:
        """Every job finished and none failed."""
        return not self.cancelled and self.failures.empty and self.table["job"].nunique() == self.jobs

    def best(self, top: int = 5) -> pd.DataFrame:
        """The ``top`` parameter sets by total PnL over days and symbols."""
        return best_sets(self.table, self.param_names, top)


def strategy_ref(strategy: type | str | Path, name: str | None = None) -> StrategyRef:
    """A strategy class, a file path, or ``'file.py:ClassName'``, as a StrategyRef."""
    if isinstance(strategy, type):
        return StrategyRef(cls=strategy)
    text = str(strategy)
    if name is None and ":" in Path(text).name:
        text, name = text.rsplit(":", 1)
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such strategy file")
    return StrategyRef(path=str(path.resolve()), name=name, source=path.read_text())


def sweep(
    strategy: type | str | Path,
    params: Mapping[str, Iterable[Any]],
    ticks: Files | Mapping[str, Files],
    *,
    symbol: str = "BTC/USDT",
    books: Files | Mapping[str, Files] | None = None,
    per_day: bool = False,
    carry: bool = False,
    cash: float = 10_000.0,
    commission: float = 0.001,
    tick_format: str | None = None,
    book_format: str | None = None,
    run_kwargs: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    out: str | Path | None = None,
    heatmap: tuple[str, str] | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run ``strategy`` for every combination of ``params`` on every symbol (and day).

    ``ticks`` (and ``books``) are files or glob patterns for ``symbol``, or a mapping
    ``{symbol: files}``; one file per day, the day read from its name. ``per_day`` runs a
    job per day, flat at the start, or with ``carry`` one continuous run per range reported
    day by day. ``scheduler``: None (a local Dask cluster of ``workers`` processes, default
    one per core), ``'serial'`` (this process), ``'tcp://host:8786'`` or a
    ``distributed.Client``. With ``out`` the table is written as ``sweep.parquet`` and
    ``sweep.csv`` there, with a heatmap of total PnL for ``heatmap`` (default: the first two
    parameters) as ``heatmap.png``.
    """
    clash = sorted(set(params) & set(RESERVED))
    if clash:
        raise ValueError(f"parameter names clash with table columns: {', '.join(clash)}")
    if workers is not None and scheduler is not None:
        raise ValueError(f"workers= sizes the local cluster; {scheduler!r} has its own workers")
    names = list(params)
    if heatmap is not None and not set(heatmap) <= set(names):
        raise ValueError(f"heatmap axes {heatmap} must be swept parameters ({', '.join(names) or 'none'})")
    ticks_by = ticks if isinstance(ticks, Mapping) else {symbol: ticks}
    books_by = books if isinstance(books, Mapping) or books is None else {symbol: books}
    jobs = build_jobs(
        strategy_ref(strategy), params, ticks_by, books=books_by, per_day=per_day, carry=carry,
        tick_format=tick_format, book_format=book_format, cash=cash, commission=commission,
        run_kwargs=run_kwargs,
    )
    outcome = execute(jobs, scheduler, workers=workers, progress=progress)
    result = SweepResult(build_table(outcome.rows, names), names, len(jobs), outcome.cancelled)
    if out is not None:
        out = Path(out)
        result.files["parquet"], result.files["csv"] = write_table(result.table, out)
        axes = heatmap or (tuple(names[:2]) if len(names) >= 2 else None)
        if axes is not None and not result.table.empty and (result.table["error"] == "").any():
            result.files["heatmap"] = plot_heatmap(result.table, axes[0], axes[1], out / "heatmap.png")
    return result
