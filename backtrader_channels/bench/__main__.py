"""``python -m backtrader_channels.bench``: the same as ``btchannels bench``."""

from .suite import main_bench

raise SystemExit(main_bench())
