"""Test helpers shipped with the package: a local fake Binance for live-feed tests and examples."""

from ..extras import missing_extra

try:
    import aiohttp  # noqa: F401  (the [live] extra)
except ImportError as error:
    raise missing_extra("live", "the fake exchange", error) from error

from .binance_data import BinanceDataServer, SpotTrade, generate_trades
from .binance_server import FakeBinance, binance_ccxt_config
from .futures import MarkPriceUpdate

__all__ = ["BinanceDataServer", "FakeBinance", "MarkPriceUpdate", "SpotTrade", "binance_ccxt_config", "generate_trades"]
