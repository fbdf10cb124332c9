"""Order matching in tick mode: backtrader's money, fills on ticks and books."""

from .data import ChannelData
from .market import Market
from .tick_broker import FillRecord, TickBroker

__all__ = ["ChannelData", "FillRecord", "Market", "TickBroker"]
