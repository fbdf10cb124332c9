"""File plumbing shared by readers and writers: names, compression, atomic output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_output", "compression_of", "plain_suffix"]


def compression_of(path: Path) -> str | None:
    """'gzip' for a ``.gz`` name, else None."""
    return "gzip" if path.name.lower().endswith(".gz") else None


def plain_suffix(path: Path) -> str:
    """The suffix that names the format, ignoring ``.gz``: '.csv', '.jsonl', '.parquet', '.zip'..."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return os.path.splitext(name)[1]


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the body succeeds."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
