"""Order matching in tick mode: backtrader's money, fills on ticks and books."""

from .channel_broker import ChannelBroker, FillRecord
from .data import ChannelData
from .market import Market
from .tick_broker import TickBroker

__all__ = ["ChannelBroker", "ChannelData", "FillRecord", "Market", "TickBroker"]
