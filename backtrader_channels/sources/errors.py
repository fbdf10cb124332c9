"""How bad input is reported: SourceError, and Problems, the bad rows found in one batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from os import PathLike, fspath

import numpy as np

__all__ = [
    "CAUSES",
    "INVALID_PRICE",
    "INVALID_VOLUME",
    "NAN_OR_INF",
    "OUT_OF_ORDER",
    "UNPARSEABLE",
    "Problems",
    "SourceError",
]

# Why a row is bad, in the words every counter uses (readers, recorder, feeds: see
# testing/adversarial.py). The reasons shown to users say more ("not positive (-3.0)").
UNPARSEABLE = "unparseable"  # not a number, a field missing or of the wrong type, a malformed line
NAN_OR_INF = "nan_or_inf"  # a number that is NaN or infinite
INVALID_PRICE = "invalid_price"  # a price <= 0
INVALID_VOLUME = "invalid_volume"  # a size < 0 (a trade size of 0 too: nothing traded)
OUT_OF_ORDER = "out_of_order"  # a time before the row before it, update numbers not increasing
CAUSES = (UNPARSEABLE, NAN_OR_INF, INVALID_PRICE, INVALID_VOLUME, OUT_OF_ORDER)


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
    first is the earliest bad row and, within it, the first bad field. Each bad row counts
    once under its reason (what users read) and once under its cause (one of ``CAUSES``).
    Rows ``ignore``d (rows of another symbol) are dropped without being problems.
    """

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.ignored = np.zeros(n, dtype=bool)
        self.reasons: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.first: tuple[int, str | None, str] | None = None  # (row, field, problem)

    def flag(
        self,
        mask: np.ndarray,
        field: str | None,
        reason: str,
        describe: Callable[[int], str] | None = None,
        *,
        cause: str = UNPARSEABLE,
    ) -> None:
        """Mark the rows of ``mask`` bad for ``reason``, counted under ``cause``;
        ``describe(row)`` details the first."""
        if not mask.any():
            return
        mask = mask & ~(self.bad | self.ignored)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self.bad |= mask
        self.reasons[reason] += len(rows)
        self.causes[cause] += len(rows)
        row = int(rows[0])
        if self.first is None or row < self.first[0]:
            self.first = (row, field, f"{reason} ({describe(row)})" if describe else reason)

    def flag_row(self, row: int, field: str | None, reason: str, detail: str, *, cause: str = UNPARSEABLE) -> None:
        """Mark one row bad (the careful parsers find problems row by row)."""
        if self.bad[row] or self.ignored[row]:
            return
        self.bad[row] = True
        self.reasons[reason] += 1
        self.causes[cause] += 1
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
