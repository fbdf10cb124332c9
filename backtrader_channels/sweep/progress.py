"""The sweep's progress bar: jobs done / total, rate and ETA, on stderr (tqdm)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(total: int, enabled: bool = True) -> Any:
    """A tqdm bar counting finished jobs; ``enabled=False`` keeps it silent."""
    from tqdm import tqdm  # the [sweep] extra; optstrategy alone does not need it

    return tqdm(total=total, desc="sweep", unit="job", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)
