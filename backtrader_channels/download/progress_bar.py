"""The download's progress bar on stderr: bytes (with rate) and files done."""

from __future__ import annotations

import sys
from typing import Any

from ..extras import missing_extra

__all__ = ["Progress"]


class Progress:
    """A tqdm bar of bytes whose label counts files (``3/31 files``); does nothing when not
    ``enabled`` (None: when stderr is a terminal). Bytes to come are added as each file's
    size becomes known."""

    def __init__(self, files: int, enabled: bool | None) -> None:
        self.files = files
        self.done = 0
        self._bar: Any = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError as error:
                raise missing_extra("download", "the progress bar", error) from error
            self._bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc=self._label(),
                             file=sys.stderr, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def _label(self) -> str:
        return f"{self.done}/{self.files} files"

    def add_bytes(self, size: int) -> None:
        """A file of ``size`` bytes starts (negative: one given up)."""
        if self._bar is not None:
            self._bar.total += size
            self._bar.refresh()

    def advance(self, size: int) -> None:
        if self._bar is not None:
            self._bar.update(size)

    def file_done(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.set_description_str(self._label())

    def expand(self, files: int) -> None:
        """The file just done stands for ``files`` files to do (a month not published: its days)."""
        self.done -= 1
        self.files += files - 1
        if self._bar is not None:
            self._bar.set_description_str(self._label())
