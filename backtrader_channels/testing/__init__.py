"""Test helpers shipped with the package: a local fake Binance for live-feed tests and examples."""

from .binance_server import FakeBinance, binance_ccxt_config

__all__ = ["FakeBinance", "binance_ccxt_config"]
