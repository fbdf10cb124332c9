"""Historical sources: files streamed as columnar chunks (see chunks.py)."""

from .chunks import BookChunk, TradeChunk
from .errors import SourceError
from .writers import write_book, write_trades

__all__ = ["BookChunk", "SourceError", "TradeChunk", "write_book", "write_trades"]
