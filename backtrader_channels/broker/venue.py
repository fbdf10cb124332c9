"""Venue: a ccxt exchange on its own event loop thread, for a live broker's REST calls.

The broker (in the run's thread) must not wait on the network while the strategy runs:
``send`` schedules a coroutine here and returns; its outcome comes back as events on the
LiveEventQueue. ``call`` waits for one (start-up loads, reconciliation, the kill switch).

``place`` is idempotent: the order carries its client order id, and a request that
timed out or met a dropped connection is first looked up by that id at the exchange
(``fetch_order``); only if the exchange does not know it is it sent again, with the same
id, which the exchange refuses as a duplicate should the first one surface after all. A
rate-limit answer (429) waits with a backoff and sends again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import ccxt

from ..feeds.guard import create_exchange
from ..feeds.redact import redact_error, register_secrets
from ..live.backoff import Backoff

__all__ = ["Venue"]


class Venue:
    """One ccxt.pro exchange (REST use only), driven from a daemon thread's event loop."""

    def __init__(self, exchange_id: str, config: Mapping[str, Any], *, attempts: int = 5,
                 backoff: Backoff | None = None) -> None:
        register_secrets(config)
        self.exchange_id = exchange_id
        self.exchange = create_exchange(exchange_id, config)
        self.attempts = attempts
        self.backoff = backoff or Backoff(0.2, 5.0)
        self.retries = 0  # requests sent again after a timeout, a dropped connection or a 429
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ccxt-broker", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"Venue({self.exchange_id!r})"

    # -- running coroutines ---------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        """Run ``coro`` on the venue's loop and wait for its result (errors redacted)."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
        except Exception as error:
            raise redact_error(error) from None

    def send(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the venue's loop without waiting."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.exchange.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- requests -------------------------------------------------------------------------
    async def place(self, symbol: str, kind: str, side: str, amount: float, price: float | None,
                    client_id: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Create an order once, whatever the network does (see the module docstring)."""
        exchange = self.exchange
        extra = {**(params or {}), "clientOrderId": client_id}
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return await exchange.create_order(symbol, kind, side, amount, price, extra)
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as error:
                last = error  # refused before it was looked at: send again after a pause
            except ccxt.InvalidOrder as error:
                if "Duplicate" not in str(error):
                    raise
                last = error  # an earlier attempt did get through
                found = await self.find(symbol, client_id)
                if found is not None:
                    return found
            except ccxt.NetworkError as error:  # timeout, reset: did the exchange take it?
                last = error
                found = await self.find(symbol, client_id)
                if found is not None:
                    return found
            self.retries += 1
            await asyncio.sleep(self.backoff.delay(attempt))
        assert last is not None
        raise last

    async def patiently(self, request: Callable[[], Awaitable[Any]]) -> Any:
        """``await request()``, again after a backoff on network errors (timeouts, resets, 429s)."""
        for attempt in range(1, self.attempts):
            try:
                return await request()
            except ccxt.NetworkError:
                self.retries += 1
                await asyncio.sleep(self.backoff.delay(attempt))
        return await request()

    async def find(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        """The order with ``client_id`` at the exchange, None if it has none (retried on network errors)."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await self.exchange.fetch_order(None, symbol, {"clientOrderId": client_id})
            except ccxt.OrderNotFound:
                return None
            except ccxt.NetworkError:
                await asyncio.sleep(self.backoff.delay(attempt))
        return None

    async def cancel(self, symbol: str, order_id: str | None, client_id: str | None) -> dict[str, Any] | None:
        """Cancel an order; None when it was no longer open."""
        params = {} if order_id is not None else {"clientOrderId": client_id}
        for attempt in range(1, self.attempts + 1):
            try:
                return await self.exchange.cancel_order(order_id, symbol, params)
            except ccxt.OrderNotFound:
                return None
            except ccxt.NetworkError:
                await asyncio.sleep(self.backoff.delay(attempt))
        return await self.exchange.cancel_order(order_id, symbol, params)
