"""SourceError: bad input in a data file, located by file, line and field."""

from __future__ import annotations

from os import PathLike, fspath

__all__ = ["SourceError"]


class SourceError(ValueError):
    """A data file that cannot be read as asked.

    ``path`` is the file, ``line`` the 1-based line of the file (None when the problem is not
    on one line) and ``field`` the column or key at fault (or None).
    """

    def __init__(
        self,
        path: str | PathLike,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = fspath(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = [self.path]
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {problem}")
