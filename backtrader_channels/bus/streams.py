"""Names on the bus: one Redis stream per channel kind and symbol, one per run for control."""

from __future__ import annotations

__all__ = ["KINDS", "PREFIX", "control_stream", "market_stream", "seen_key"]

PREFIX = "btchannels"
KINDS = ("tick", "orderbook")


def market_stream(kind: str, symbol: str) -> str:
    """``btchannels:tick:BTC/USDT``, ``btchannels:orderbook:BTC/USDT``."""
    if kind not in KINDS:
        raise ValueError(f"bus stream kind must be one of {KINDS}, got {kind!r}")
    return f"{PREFIX}:{kind}:{symbol}"


def control_stream(run: str) -> str:
    """The commands stream of the run called ``run``."""
    return f"{PREFIX}:control:{run}"


def seen_key(stream: str, group: str) -> str:
    """Hash of the last sequence number a consumer group took from each collector."""
    return f"{stream}:seen:{group}"
