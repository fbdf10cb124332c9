"""Names on the bus: one Redis stream per market-data kind and symbol, one per run for control."""

from __future__ import annotations

from ..kinds import KINDS, kind_of

__all__ = ["PREFIX", "control_stream", "market_stream", "seen_key"]

PREFIX = "btchannels"


def market_stream(kind: str, symbol: str) -> str:
    """``btchannels:tick:BTC/USDT``, ``btchannels:orderbook:BTC/USDT``: a market-data kind with a codec."""
    if kind not in KINDS or not kind_of(kind).market_data or kind_of(kind).codec is None:
        carried = [name for name, known in KINDS.items() if known.market_data and known.codec is not None]
        raise ValueError(f"bus stream kind must be one of {carried}, got {kind!r}")
    return f"{PREFIX}:{kind}:{symbol}"


def control_stream(run: str) -> str:
    """The commands stream of the run called ``run``."""
    return f"{PREFIX}:control:{run}"


def seen_key(stream: str, group: str) -> str:
    """Hash of the last sequence number a consumer group took from each collector."""
    return f"{stream}:seen:{group}"
