"""The sweep table: one row per job (per job and day with ``carry``), files, heatmap, best sets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..extras import missing_extra

try:
    import pandas as pd
except ImportError as error:
    raise missing_extra("sweep", "sweep tables", error) from error

from .metrics import METRICS

__all__ = ["RESERVED", "best_sets", "build_table", "plot_heatmap", "write_table"]

RESERVED = ("job", "symbol", "day", *METRICS, "error")


def build_table(rows: Iterable[dict[str, Any]], param_names: Sequence[str]) -> pd.DataFrame:
    """The rows as a DataFrame in job order: job, parameters, symbol, day, numbers, error."""
    columns = ["job", *param_names, "symbol", "day", *METRICS, "error"]
    table = pd.DataFrame(list(rows), columns=columns)
    return table.sort_values(["job", "day"], kind="stable").reset_index(drop=True)


def write_table(table: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """Write ``sweep.parquet`` and ``sweep.csv`` to ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet, csv = out_dir / "sweep.parquet", out_dir / "sweep.csv"
    table.to_parquet(parquet, index=False)
    table.to_csv(csv, index=False)
    return parquet, csv


def _totals(table: pd.DataFrame, param_names: Sequence[str]) -> pd.DataFrame:
    """Per parameter set over its days and symbols: summed money and counts, mean Sharpe."""
    good = table[table["error"] == ""]
    return good.groupby(list(param_names), sort=True).agg(
        pnl=("pnl", "sum"), fees=("fees", "sum"), fills=("fills", "sum"), trades=("trades", "sum"),
        max_drawdown=("max_drawdown", "max"), sharpe=("sharpe", "mean"), rows=("job", "size"),
    )


def best_sets(table: pd.DataFrame, param_names: Sequence[str], top: int = 5) -> pd.DataFrame:
    """The ``top`` parameter sets by total PnL (ties: higher Sharpe, then parameter order)."""
    if not param_names:
        return _totals(table.assign(_all="all"), ["_all"]).head(top)
    totals = _totals(table, param_names).reset_index()
    ranked = totals.sort_values(["pnl", "sharpe"], ascending=[False, False], kind="stable")
    return ranked.head(top).reset_index(drop=True)


def plot_heatmap(table: pd.DataFrame, x: str, y: str, path: Path, value: str = "pnl") -> Path:
    """A PNG heatmap of ``value`` summed over days, symbols and other parameters, for ``x`` by ``y``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = table[table["error"] == ""]
    grid = good.pivot_table(index=y, columns=x, values=value, aggfunc="sum").sort_index().sort_index(axis=1)
    fig, ax = plt.subplots(figsize=(1.2 * len(grid.columns) + 3, 0.8 * len(grid.index) + 2))
    image = ax.imshow(grid.to_numpy(), cmap="RdYlGn", aspect="auto", origin="lower")
    ax.set_xticks(range(len(grid.columns)), [str(v) for v in grid.columns])
    ax.set_yticks(range(len(grid.index)), [str(v) for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"total {value} by {x} and {y}")
    for row, y_value in enumerate(grid.index):
        for col, x_value in enumerate(grid.columns):
            ax.text(col, row, f"{grid.loc[y_value, x_value]:,.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label=value)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
