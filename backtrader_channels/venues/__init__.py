"""Venue adapters: each venue a package with a data client and an execution client.

A venue adapter (the shape of nautilus_trader's adapter template) gives, for the ccxt
exchange ids it serves:

- its **data clients**: the live feeds of each channel kind (``'tick'``, ``'orderbook'``,
  ``'funding'``), which push events onto the LiveEventQueue;
- its **execution client**: place, cancel, look up, reconcile and the user stream, which
  reaches the engine only as execution reports on the queue (the live broker books them);
- its **capabilities**: which order parameters each market type takes
  (``broker/order_params.py``).

``adapter_for(exchange_id)`` finds the adapter; adding a venue is one package here and its
line in ``VENUES`` (docs/live-trading.md, "The venue adapter").
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

__all__ = ["VENUES", "VenueAdapter", "adapter_for"]


@dataclass(frozen=True)
class VenueAdapter:
    """One venue: the ccxt ids it serves and where its clients live (imported when asked)."""

    name: str
    exchange_ids: tuple[str, ...]
    module: str  # the package holding DATA_CLIENTS, EXECUTION_CLIENT and capabilities_of

    def _load(self) -> Any:
        return import_module(self.module)

    def data_client(self, kind: str) -> type:
        """The live feed class of channel ``kind`` (``'tick'``, ``'orderbook'``, ``'funding'``)."""
        clients = self._load().DATA_CLIENTS
        if kind not in clients:
            raise ValueError(f"{self.name} has no data client for {kind!r}; it has {', '.join(sorted(clients))}")
        return clients[kind]

    def execution_client(self, exchange_id: str, config: Any, **options: Any) -> Any:
        """A connected-on-demand execution client for ``exchange_id`` with ccxt ``config``."""
        return self._load().EXECUTION_CLIENT(exchange_id, config, **options)


VENUES = {
    "binance": VenueAdapter("binance", ("binance", "binanceusdm"), "backtrader_channels.venues.binance"),
}


def adapter_for(exchange_id: str) -> VenueAdapter:
    """The adapter serving ccxt's ``exchange_id``; a ValueError naming the ones there are."""
    for adapter in VENUES.values():
        if exchange_id in adapter.exchange_ids:
            return adapter
    served = ", ".join(i for adapter in VENUES.values() for i in adapter.exchange_ids)
    raise ValueError(f"no venue adapter serves the exchange {exchange_id!r} (served: {served})")
