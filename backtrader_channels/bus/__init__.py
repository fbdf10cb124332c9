"""The Redis Streams market-data bus and the control channel (``pip install backtrader-channels[bus]``).

Names are imported on first use, so importing the package needs no Redis client. The
commands themselves are a channel kind (``kinds/control.py``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "BusFeed", "BusPublisher", "BusStats", "BusUnreachable", "ControlFeed", "ControlSocket",
    "add_control", "collect", "send_command", "send_local",
]

_HOMES = {
    "BusFeed": "bus_feed", "BusStats": "bus_feed", "BusPublisher": "publisher", "BusUnreachable": "publisher", "collect": "publisher",
    "ControlFeed": "commands", "ControlSocket": "commands",
    "add_control": "commands", "send_command": "commands", "send_local": "commands",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
