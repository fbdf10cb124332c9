"""Counting trade ids delivered twice, cheaply: a file's ids normally only grow."""

from __future__ import annotations

import numpy as np

__all__ = ["RepeatedIds"]

WINDOW = 10_000  # a repeat is looked for among this many ids delivered before


class RepeatedIds:
    """Counts ids equal to one delivered among the last ``window`` ids (or earlier in the
    same chunk): the same trade twice, e.g. two overlapping files joined.

    Ids that only grow, the usual case, cost one comparison per id; only a chunk where they
    do not is sorted.
    """

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._recent: np.ndarray = np.empty(0, dtype=np.int64)

    def add(self, ids: np.ndarray) -> None:
        """Count the repeats among a chunk's ids (in delivery order)."""
        if not len(ids):
            return
        growing = (not len(self._recent) or ids[0] > self._recent.max()) and bool((ids[1:] > ids[:-1]).all())
        if not growing:
            seen = np.concatenate((self._recent, ids))
            order = np.argsort(seen, kind="stable")  # equal ids keep their delivery order
            repeat = np.zeros(len(seen), dtype=bool)
            repeat[order[1:]] = seen[order[1:]] == seen[order[:-1]]  # all but the first of each id
            self.count += int(repeat[len(self._recent):].sum())
        if len(ids) >= self.window:
            self._recent = ids[-self.window:].copy()
        else:
            self._recent = np.concatenate((self._recent, ids))[-self.window:]
