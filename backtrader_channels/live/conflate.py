"""Merging two consecutive order-book updates of one symbol into one that leaves the same book.

Used by ``LiveEventQueue`` when it is full: instead of dropping a book update (which would
corrupt every later state built from deltas) it folds an older update into the next one.
"""

from __future__ import annotations

from ..events import OrderBookEvent

__all__ = ["merge_book_updates"]


def merge_book_updates(older: OrderBookEvent, newer: OrderBookEvent) -> OrderBookEvent:
    """One update equivalent to applying ``older`` then ``newer`` to any book.

    - newer is a snapshot: it replaces everything, ``older`` is irrelevant;
    - snapshot then delta: the snapshot with the delta's levels applied (size 0 removes);
    - delta then delta: one delta where the newer size of each level wins (size 0 kept,
      it still has to remove the level from the book it is applied to).

    The result carries the newer update's timestamp, update id and receive time.
    """
    if newer.kind == "snapshot":
        return newer
    bids = dict(older.bids)
    bids.update(newer.bids)
    asks = dict(older.asks)
    asks.update(newer.asks)
    kind = older.kind
    if kind == "snapshot":
        bids = {price: size for price, size in bids.items() if size > 0}
        asks = {price: size for price, size in asks.items() if size > 0}
    return OrderBookEvent(
        newer.timestamp,
        sorted(bids.items(), reverse=True),
        sorted(asks.items()),
        kind=kind,
        symbol=newer.symbol,
        update_id=newer.update_id,
        recv_timestamp=newer.recv_timestamp,
    )
