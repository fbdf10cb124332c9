"""FakeExchange driven by the real ccxt.pro client: a fixture and a runner for async bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import ccxt.pro
import pytest

from backtrader_channels.testing.exchange import FakeExchange

SYMBOL = "BTC/USDT"
PERPETUAL = "BTC/USDT:USDT"


@pytest.fixture
def exchange():
    with FakeExchange([SYMBOL], balances={"USDT": 1_000_000.0}) as server:
        yield server


def with_client(exchange: FakeExchange, body: Callable[[Any], Awaitable[Any]], *,
                options: dict[str, Any] | None = None, **config: Any) -> Any:
    """Run ``body(client)`` with a ccxt.pro binance client signed in at ``exchange`` (1 s timeout;
    ``options`` added to the client's, ``config`` to its constructor config)."""

    async def main() -> Any:
        base = exchange.ccxt_config()
        client = ccxt.pro.binance({**base, "apiKey": exchange.api_key, "secret": exchange.secret, "timeout": 1000,
                                   "options": {**base["options"], **(options or {})}, **config})
        try:
            await client.load_markets()
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())


async def prints(exchange: FakeExchange, symbol: str, trades: Iterable[tuple[float, float]]) -> None:
    """These (price, quantity) trades print at the exchange, watched or not (from a client's loop)."""
    trades = list(trades)
    exchange.script_trades(symbol, trades)
    await asyncio.to_thread(exchange.send_trades, symbol, len(trades), wait=False)
