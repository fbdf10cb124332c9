"""Historical sources: files streamed as columnar chunks (see chunks.py and docs/data-formats.md)."""

from .books import BOOK_FORMATS, BookSource, open_book
from .chunks import BookChunk, TradeChunk
from .convert import convert
from .errors import SourceError
from .trades import TRADE_FORMATS, TradeSource, open_trades
from .writers import write_book, write_trades

__all__ = [
    "BOOK_FORMATS",
    "BookSource",
    "TRADE_FORMATS",
    "BookChunk",
    "SourceError",
    "TradeChunk",
    "TradeSource",
    "convert",
    "open_book",
    "open_trades",
    "write_book",
    "write_trades",
]
