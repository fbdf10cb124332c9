"""Market: what the broker knows of one symbol while matching orders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import seam
from .data import ChannelData

if TYPE_CHECKING:
    from ..channels import OrderBook

__all__ = ["Market"]


class Market:
    """Last trade, book and working orders of one symbol."""

    __slots__ = ("symbol", "data", "last_price", "book", "orders", "has_trades", "quiet")

    def __init__(self, symbol: str, data: ChannelData) -> None:
        self.symbol = symbol
        self.data = data
        self.last_price: float | None = None
        self.book: OrderBook | None = None
        self.has_trades = False
        self.orders: list = []  # active orders, in submission order
        # the TickBroker's cache of the prices no working order can react to (see TickBroker.quiet_band)
        self.quiet: tuple[float, ...] | None = None

    @classmethod
    def create(cls, symbol: str, environment: Any) -> Market:
        """A market with its ChannelData started in ``environment`` (the Cerebro), ready for orders."""
        data = ChannelData(symbol)
        seam.start_data(data, environment)
        return cls(symbol, data)

    def reset(self) -> None:
        """Forget prices and orders (a new run), keeping what the symbol has (book, trades)."""
        self.last_price = None
        self.orders = []
        self.quiet = None
        self.data.reset()

    @property
    def price(self) -> float | None:
        """Mark price: the last trade, or the book's mid for a symbol with no trades yet."""
        if self.last_price is not None:
            return self.last_price
        book = self.book
        if book is not None and book.best_bid is not None and book.best_ask is not None:
            return book.mid_price
        return None

    def quote(self, buy: bool) -> float | None:
        """The price a buy (sell) would trade at now: the best ask (bid), else the last trade."""
        book = self.book
        if book is not None and book.has_snapshot:
            best = book.best_ask if buy else book.best_bid
            if best is not None:
                return best.price
        return self.last_price

    def attach(self, channel: object) -> None:
        """Learn what the symbol has: a book to walk, or trades to match."""
        book = getattr(channel, "book", None)
        if book is not None:
            self.book = book
        elif getattr(channel, "prints_trades", False):
            self.has_trades = True

    def mark(self, timestamp: float) -> None:
        self.data.mark(timestamp, self.price)

    def __repr__(self) -> str:
        return f"Market({self.symbol!r}, last={self.last_price}, orders={len(self.orders)})"
