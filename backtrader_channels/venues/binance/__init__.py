"""The Binance adapter (spot and USD-M futures, through ccxt.pro).

Data clients are the ccxt.pro feeds of ``feeds/`` (trades, the diff-depth book with
Binance's snapshot rules, funding); the execution client is ``BinanceExecution``
(execution.py); the order parameters each market type takes come from
``Capabilities.of_market`` (broker/order_params.py).
"""

from ...feeds import CCXTLiveFundingFeed, CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from .execution import BinanceExecution

__all__ = ["DATA_CLIENTS", "EXECUTION_CLIENT", "BinanceExecution"]

DATA_CLIENTS = {"tick": CCXTLiveTickFeed, "orderbook": CCXTLiveOrderBookFeed, "funding": CCXTLiveFundingFeed}
EXECUTION_CLIENT = BinanceExecution
