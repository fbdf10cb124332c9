"""How bad input is reported: SourceError, and Problems, the bad rows found in one batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from os import PathLike, fspath

import numpy as np

__all__ = ["Problems", "SourceError"]


class SourceError(ValueError):
    """A data file that cannot be read as asked.

    ``path`` is the file; ``line`` the 1-based line of a text file, or ``row`` the 1-based
    row of a Parquet file (None when the problem is not in one place); ``field`` the column
    or key at fault (or None).
    """

    def __init__(
        self,
        path: str | PathLike,
        problem: str,
        *,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = fspath(path)
        self.line = line
        self.row = row
        self.field = field
        self.problem = problem
        where = [self.path]
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


class Problems:
    """The bad rows of one batch of ``n`` rows, each with the first problem found in it.

    Checks flag whole columns at once (a boolean mask) in column order, so the row reported
    first is the earliest bad row and, within it, the first bad field. Rows ``ignore``d (rows
    of another symbol) are dropped without being problems.
    """

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.ignored = np.zeros(n, dtype=bool)
        self.reasons: Counter[str] = Counter()
        self.first: tuple[int, str | None, str] | None = None  # (row, field, problem)

    def flag(
        self,
        mask: np.ndarray,
        field: str | None,
        reason: str,
        describe: Callable[[int], str] | None = None,
    ) -> None:
        """Mark the rows of ``mask`` bad for ``reason``; ``describe(row)`` details the first."""
        if not mask.any():
            return
        mask = mask & ~(self.bad | self.ignored)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self.bad |= mask
        self.reasons[reason] += len(rows)
        row = int(rows[0])
        if self.first is None or row < self.first[0]:
            self.first = (row, field, f"{reason} ({describe(row)})" if describe else reason)

    def flag_row(self, row: int, field: str | None, reason: str, detail: str) -> None:
        """Mark one row bad (the careful parsers find problems row by row)."""
        if self.bad[row] or self.ignored[row]:
            return
        self.bad[row] = True
        self.reasons[reason] += 1
        if self.first is None or row < self.first[0]:
            self.first = (row, field, f"{reason} ({detail})")

    def ignore(self, mask: np.ndarray) -> int:
        """Drop the rows of ``mask`` that are not bad, silently; returns how many."""
        mask = mask & ~(self.bad | self.ignored)
        self.ignored |= mask
        return int(mask.sum())

    @property
    def dropped(self) -> np.ndarray:
        return self.bad | self.ignored
