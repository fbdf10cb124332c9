"""The ccxt.pro live feeds: trades (``watch_trades``) and order books (``watch_order_book``).

Both put ``Event``s on a ``LiveEventQueue`` with ``channel_name`` = the symbol, for the
engine to dispatch to the strategy's ``('tick', symbol)`` / ``('orderbook', symbol)`` channel::

    queue = LiveEventQueue()
    trades = CCXTLiveTickFeed('binance', 'BTC/USDT', queue)
    book = CCXTLiveOrderBookFeed('binance', 'BTC/USDT', queue, depth=20)
    runner = FeedThread([trades, book]).start()   # or: await trades.start()
    ...
    runner.stop()
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import ccxt

from ..events import OrderBookEvent, TickEvent
from ..kinds.books import BOOKS
from ..kinds.trades import TRADES
from ..live.trade_ids import TradeIdFilter
from ..live.validator import refusal_cause
from .base import CCXTFeedBase, Resync
from .guard import Refused

if TYPE_CHECKING:
    from ..live import LiveEventQueue

__all__ = ["TRADES_LIMIT", "CCXTLiveOrderBookFeed", "CCXTLiveTickFeed"]

TRADES_LIMIT = 50_000  # ccxt's tradesLimit unless the config sets one: trades a burst may hold unread
_INF = math.inf


class CCXTLiveTickFeed(CCXTFeedBase):
    """Trades of one symbol as ``Event(timestamp, TICK, 'tick', symbol, data=TickEvent)``.

    ``TickEvent.timestamp`` is the exchange's trade time, ``recv_timestamp`` the local
    receive time. Each trade is delivered at most once across reconnects (``TradeIdFilter``,
    memory bounded by ``dedupe_window``); ids skipped over are counted in
    ``stats.missed_trades``, ids that start again or jump implausibly (more than
    ``max_id_jump``) in ``stats.id_epochs``.

    A trade without a usable id, time, price, amount or side, or priced or sized <= 0, NaN or
    infinite, is refused by the feed itself (validator or not): counted once in
    ``stats.bad_messages`` under its cause in ``stats.bad_by_cause``, and, if its id is
    readable, taken as seen: not missed, and a copy of it is a duplicate.

    ccxt keeps the trades it receives in a cache of ``tradesLimit`` (an option of the exchange
    ``config``; here 50,000 unless set, ccxt's own default is 1,000) until the feed reads them;
    the feed empties it on each read, so it holds only a burst not yet read. Trades beyond it
    are lost before the feed sees them: ccxt counts what it appended, so the feed counts the
    difference in ``stats.overflowed_trades`` (not in ``missed_trades``).
    """

    channel_type, priority = TRADES.name, TRADES.priority

    def __init__(
        self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, *, dedupe_window: int = 100_000,
        max_id_jump: int = 1_000_000, **options: Any
    ) -> None:
        super().__init__(exchange_id, symbol, event_queue, **options)
        ccxt_options = self.config["options"] = dict(self.config.get("options") or {})
        ccxt_options.setdefault("tradesLimit", TRADES_LIMIT)
        self._trade_ids = TradeIdFilter(dedupe_window, max_id_jump)

    async def _watch(self, exchange: Any) -> Any:
        trades = await exchange.watch_trades(self.symbol)
        # Nothing ran on the loop since watch_trades counted the trades its cache appended
        # since the previous call (ArrayCache.getLimit) and returned the last of them it still
        # holds: asking again gives the same count, and the difference was evicted unread.
        cache = exchange.trades.get(self.symbol)
        if cache is not None:
            lost = (cache.getLimit(self.symbol, None) or 0) - len(trades)
            cache.clear()  # all read: the cache holds only what arrives until the next call
            if lost > 0:
                self._counters.overflowed_trades += lost
                self._trade_ids.lose(lost)
        return trades

    def _deliver(self, trades: Any, recv_timestamp: float) -> None:
        counters, trade_ids = self._counters, self._trade_ids
        for trade in trades:
            counters.messages += 1
            tick = self._tick(trade, recv_timestamp)
            if isinstance(tick, str):
                error = ValueError(f"trade refused: {tick}")
                self._refuse(trade, error, tick, _trade_id(trade.get("id")), _seconds(trade.get("timestamp")))
            elif not trade_ids.accept(tick.trade_id, tick.timestamp):
                counters.duplicates += 1
            else:
                counters.latencies.append(recv_timestamp - tick.timestamp)
                if self._emit(tick, tick.timestamp):
                    counters.trades += 1
        counters.missed_trades, counters.id_epochs = trade_ids.missed, trade_ids.epochs

    def _tick(self, trade: Any, recv_timestamp: float) -> TickEvent | str:
        """``trade`` (ccxt's) as a TickEvent, or the cause it is refused for."""
        try:
            trade_id = trade["id"]
            if type(trade_id) is str and trade_id.isdigit():  # the usual case, inline (see _trade_id)
                trade_id = int(trade_id)
            timestamp = trade["timestamp"] / 1000.0
            price, amount = float(trade["price"]), float(trade["amount"])
            side = trade["side"]
        except (KeyError, TypeError, ValueError):
            return refusal_cause(trade.get("price"), trade.get("amount")) or "unparseable"
        if not (0 < price < _INF and 0 < amount < _INF):
            return refusal_cause(price, amount) or "unparseable"
        if type(trade_id) is not int and _trade_id(trade_id) is None or side not in ("buy", "sell"):
            return "unparseable"
        return TickEvent(timestamp, price, amount, side, trade_id, self.symbol, recv_timestamp)

    def _on_bad_frame(self, data: Any, error: Exception) -> None:
        """A frame ccxt could not handle: a Binance trade message is refused under the cause
        its price or quantity gives (ccxt raises on ``"NaN"``, ``"abc"``...), its id seen."""
        self._counters.messages += 1
        message = _binance_trade(data)
        if message is None:
            self._skip_bad(data, error)
            return
        cause = refusal_cause(message.get("p"), message.get("q")) or "unparseable"
        self._refuse(data, error, cause, _trade_id(message.get("t")), _seconds(message.get("T")))
        self._counters.missed_trades = self._trade_ids.missed

    def _refuse(self, data: Any, error: Exception, cause: str, trade_id: Any, timestamp: float | None) -> None:
        """A bad trade, counted once under ``cause``; a readable id is seen, so it is not missed
        and a copy of the trade (replayed after a reconnect) is a duplicate."""
        if trade_id is not None and not self._trade_ids.accept(trade_id, timestamp):
            self._counters.duplicates += 1
        else:
            self._skip_bad(data, error, cause)


def _trade_id(raw: Any) -> int | str | None:
    """A usable trade id: an int (Binance's ids are integers; ccxt gives them as text) or a string."""
    if type(raw) is str:
        return int(raw) if raw.isdigit() else raw
    return raw if type(raw) is int else None


def _seconds(time_ms: Any) -> float | None:
    return time_ms / 1000.0 if type(time_ms) in (int, float) else None


def _binance_trade(frame: Any) -> dict[str, Any] | None:
    """The Binance ``<symbol>@trade`` message in a raw frame (raw or combined stream), or None."""
    try:
        message = json.loads(frame) if isinstance(frame, (str, bytes)) else frame
    except ValueError:
        return None
    if isinstance(message, dict) and isinstance(message.get("data"), dict):
        message = message["data"]
    return message if isinstance(message, dict) and message.get("e") == "trade" else None


class CCXTLiveOrderBookFeed(CCXTFeedBase):
    """The order book of one symbol as ``Event(timestamp, ORDERBOOK, 'orderbook', symbol,
    data=OrderBookEvent(kind='snapshot', update_id=nonce))``.

    Why snapshots: ccxt.pro maintains the book itself (REST snapshot + diff stream, Binance's
    sync rules) and ``watch_order_book`` returns that book, with every diff received since
    the previous call already applied, not the diffs. A snapshot of the top ``depth`` levels
    (None: all) is therefore the exact state; it applies correctly whatever came before
    (including after a resync), and a queue under load may conflate snapshots losslessly.
    ``update_id`` is the book's nonce (Binance's last applied ``u``); ``timestamp`` the
    exchange time of the last diff (a REST snapshot has none: the previous event's time, or
    the receive time for the first).

    ccxt applies whatever a diff holds: a level ``["1000", "NaN"]``, ``["1000", "-1"]`` or
    ``["NaN", "1"]`` stays in its book, and a size it cannot parse removes the level. So each
    diff's levels are checked before ccxt applies them (``_check_message``; guarded
    exchanges): a bad one is counted and dropped, and the gap it leaves rebuilds the book at
    the next diff. Every level the feed delivers is checked too (finite, price > 0, size > 0:
    a REST snapshot, or ``guard_messages=False``), and so is the order (best bid < best ask:
    a crossing diff stays in ccxt's book too). A book that fails is never delivered: it
    counts as a bad message under its cause (``nan_or_inf``, ``invalid_price``,
    ``invalid_volume``, ``crossed_book``) and the book is rebuilt from a fresh snapshot.
    """

    channel_type, priority = BOOKS.name, BOOKS.priority

    def __init__(
        self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, *, depth: int | None = None, **options: Any
    ) -> None:
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1 or None, got {depth!r}")
        super().__init__(exchange_id, symbol, event_queue, **options)
        self.depth = depth
        self._last_nonce: Any = None
        self._last_timestamp: float | None = None

    async def _watch(self, exchange: Any) -> Any:
        return await exchange.watch_order_book(self.symbol)

    def _check_message(self, message: Any) -> Refused | None:
        """A Binance diff (``depthUpdate``) with a level ccxt would mis-apply, refused before it
        is applied: ccxt reads a size it cannot parse (``"abc"``, ``""``) as 0 and removes a
        real level. The diff is dropped, so the next one is a gap and the book is rebuilt."""
        data = message.get("data", message) if isinstance(message, dict) else None
        if not isinstance(data, dict) or data.get("e") != "depthUpdate":
            return None
        try:
            for side in (data.get("b") or (), data.get("a") or ()):
                for level in side:
                    try:  # the usual case, inline: a finite price > 0 and a finite size >= 0
                        good = 0 < float(level[0]) < _INF and 0 <= float(level[1]) < _INF
                    except (TypeError, ValueError, IndexError, KeyError):
                        good = False
                    if not good:
                        cause = _diff_level_cause(level)
                        return Refused(f"depth update {data.get('u')}: level {level!r} refused ({cause})", cause)
        except TypeError:  # a side that is no list
            return Refused(f"depth update {data.get('u')}: levels unreadable", "unparseable")
        return None

    def _is_resync(self, error: Exception) -> bool:
        # ccxt raises a plain ExchangeError when its REST snapshot stays behind the buffered
        # diffs after its retries ("nonce is behind the cache"): also cured by a fresh start
        return super()._is_resync(error) or (
            isinstance(error, ccxt.ExchangeError) and "nonce is behind" in str(error)
        )

    def _deliver(self, book: Any, recv_timestamp: float) -> None:
        counters = self._counters
        counters.messages += 1
        nonce = book.get("nonce")
        if nonce is not None and nonce == self._last_nonce:
            return  # nothing changed since the last event
        exchange_ms = book.get("timestamp")
        if exchange_ms is not None:
            timestamp = exchange_ms / 1000.0
            counters.latencies.append(recv_timestamp - timestamp)
        else:
            timestamp = self._last_timestamp if self._last_timestamp is not None else recv_timestamp
        depth = self.depth
        bids, asks = book["bids"], book["asks"]
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        cause = _bad_level(bids) or _bad_level(asks)
        if cause is not None:
            raise Resync(f"a level refused ({cause}) in the book at update {nonce}", cause)
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise Resync(f"crossed book: bid {bids[0][0]} >= ask {asks[0][0]} at update {nonce}", "crossed_book")
        update = OrderBookEvent(timestamp, bids, asks, "snapshot", self.symbol, nonce, recv_timestamp)
        self._last_nonce, self._last_timestamp = nonce, timestamp
        if self._emit(update, timestamp):
            counters.books += 1


def _diff_level_cause(level: Any) -> str:
    """Why a level of a diff is refused (a size of 0 is good there: it removes the level)."""
    try:
        return refusal_cause(level[0], level[1], zero_size=True) or "unparseable"
    except (TypeError, IndexError, KeyError):  # not a [price, size] pair
        return "unparseable"


def _bad_level(levels: Any) -> str | None:
    """Why the first unusable ``[price, size]`` of ``levels`` is refused, or None if all are
    finite with price and size > 0 (a tight loop: about 0.1 µs a level)."""
    try:
        for level in levels:
            if not (0 < level[0] < _INF and 0 < level[1] < _INF):
                return refusal_cause(level[0], level[1]) or "unparseable"
    except (TypeError, IndexError):  # not a number, or not a [price, size] pair
        return "unparseable"
    return None
