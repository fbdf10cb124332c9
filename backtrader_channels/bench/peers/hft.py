"""hftbacktest in the peers' workloads (the ``peers`` extra): its Python API, numba-compiled.

hftbacktest replays numpy event arrays (``event_dtype``) and the strategy is an ``@njit``
function that loops on ``wait_next_feed``: it returns once per timestamp with new market
data, and the trades since the last call are in ``last_trades``. It fills orders only
against its own depth, so in the trades workload each trade comes with a one-level quote
derived from it (the side the aggressor took at the trade's price, the other side one
cent away): a market order fills at once at that quote, where tick mode and backtrader
fill at the next trade. Building the arrays and compiling the strategy (a warm-up run on
a few events) are preparation, not timed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...extras import missing_extra
from .workload import SIZE, Outcome, Workload, book_columns, trade_columns

try:
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest, event_dtype
    from hftbacktest.order import GTC, MARKET
    from hftbacktest.types import (
        BUY_EVENT,
        DEPTH_EVENT,
        EXCH_EVENT,
        LOCAL_EVENT,
        SELL_EVENT,
        TRADE_EVENT,
    )
    from numba import njit
except ImportError as error:
    raise missing_extra("peers", "the hftbacktest comparison", error) from error

TICK = 0.01
FEED = 2  # wait_next_feed: market data arrived
SEEN = np.uint64(EXCH_EVENT | LOCAL_EVENT)  # an event both the exchange and the strategy see
QUOTE_QTY = 1_000.0  # the derived quote's size: any order fills in full


def events(kinds: list[np.ndarray], ts_ns: list[np.ndarray], price: list[np.ndarray],
           qty: list[np.ndarray]) -> np.ndarray:
    """One event array from parallel parts, ordered by time; at one time, the order given."""
    ts = np.concatenate(ts_ns)
    order = np.argsort(ts, kind="stable")
    out = np.zeros(len(ts), event_dtype)
    out["ev"] = np.concatenate(kinds)[order]
    out["exch_ts"] = out["local_ts"] = ts[order]
    out["px"] = np.concatenate(price)[order]
    out["qty"] = np.concatenate(qty)[order]
    return out


def trade_kinds(is_sell: np.ndarray) -> np.ndarray:
    return SEEN | np.uint64(TRADE_EVENT) | np.where(is_sell, np.uint64(SELL_EVENT), np.uint64(BUY_EVENT))


def trade_events(workload: Workload) -> np.ndarray:
    """Per trade: remove the last quote, set one from the trade, then the trade (5 events)."""
    trades = trade_columns(workload.trades_path())
    bid = np.where(trades.is_sell, trades.price, trades.price - TICK).round(2)
    ask = np.where(trades.is_sell, trades.price + TICK, trades.price).round(2)
    n = len(bid)
    bids, asks = np.uint64(DEPTH_EVENT | BUY_EVENT) | SEEN, np.uint64(DEPTH_EVENT | SELL_EVENT) | SEEN
    # interleaved per trade: old bid 0, old ask 0, new bid, new ask, trade
    parts = np.stack([np.full(n, bids), np.full(n, asks), np.full(n, bids), np.full(n, asks),
                      trade_kinds(trades.is_sell)], axis=1)
    prices = np.stack([np.roll(bid, 1), np.roll(ask, 1), bid, ask, trades.price], axis=1)
    prices[0, :2] = bid[0], ask[0]
    qty = np.stack([np.zeros(n), np.zeros(n), np.full(n, QUOTE_QTY), np.full(n, QUOTE_QTY), trades.volume], axis=1)
    return events([parts.ravel()], [np.repeat(trades.ts_ns, 5)], [prices.ravel()], [qty.ravel()])


def book_events(workload: Workload) -> np.ndarray:
    """The book's levels (snapshot and deltas: size 0 removes) before the trades at one time."""
    book = book_columns(workload.book_path())
    trades = trade_columns(workload.trades_path())
    level_ts = np.repeat(book.ts_ns, np.diff(book.offsets))
    level_kinds = SEEN | np.uint64(DEPTH_EVENT) | np.where(book.side == 0, np.uint64(BUY_EVENT), np.uint64(SELL_EVENT))
    return events([level_kinds, trade_kinds(trades.is_sell)], [level_ts, trades.ts_ns],
                  [book.price, trades.price], [book.size, trades.volume])


def backtest(data: np.ndarray) -> Any:
    asset = (BacktestAsset().data(data).linear_asset(1.0).constant_order_latency(1_000, 1_000)
             .risk_adverse_queue_model().no_partial_fill_exchange().trading_value_fee_model(0.0, 0.0)
             .tick_size(TICK).lot_size(0.00001).last_trades_capacity(100_000))
    return HashMapMarketDepthBacktest([asset])


@njit
def flip(hbt: Any, fast: float, slow: float, size: float) -> tuple:  # pragma: no cover (compiled)
    """``EmaCross`` and the flip rule on every trade; returns (trades, orders, last price)."""
    fast_ema = slow_ema = last = 0.0
    above = -1  # -1: no price yet
    trades = orders = 0
    more = True
    while more:
        more = hbt.wait_next_feed(False, 1 << 62) == FEED
        seen = hbt.last_trades(0)
        for k in range(len(seen)):
            price = seen[k].px
            last = price
            trades += 1
            if above == -1:
                fast_ema = slow_ema = price
            fast_ema += fast * (price - fast_ema)
            slow_ema += slow * (price - slow_ema)
            now = 1 if fast_ema > slow_ema else 0
            if now == above:
                continue
            above = now
            if now == 1:
                orders += 1
                hbt.submit_buy_order(0, orders, price, size, GTC, MARKET, False)
            elif hbt.position(0) > 0:
                orders += 1
                hbt.submit_sell_order(0, orders, price, hbt.position(0), GTC, MARKET, False)
        hbt.clear_last_trades(0)
        hbt.clear_inactive_orders(0)
    return trades, orders, last


@njit
def read_book(hbt: Any) -> tuple:  # pragma: no cover (compiled)
    """Per feed: count the trades, or read the best bid and ask (a book update)."""
    trades = updates = 0
    spread_sum = 0.0
    more = True
    while more:
        more = hbt.wait_next_feed(False, 1 << 62) == FEED
        seen = len(hbt.last_trades(0))
        if seen:
            trades += seen
            hbt.clear_last_trades(0)
        elif more:
            updates += 1
            depth = hbt.depth(0)
            bid, ask = depth.best_bid, depth.best_ask
            if not (np.isnan(bid) or np.isnan(ask)):
                spread_sum += ask - bid
    return trades, updates, spread_sum


def run_hftbacktest(workload: Workload) -> Outcome:
    started = time.perf_counter()
    data = book_events(workload) if workload.kind == "book" else trade_events(workload)
    warm_up = backtest(data[:10])
    if workload.kind == "book":
        read_book(warm_up)
    else:
        flip(warm_up, workload.fast, workload.slow, SIZE)
    warm_up.close()
    prepared = time.perf_counter()
    hbt = backtest(data)
    if workload.kind == "book":
        trades, updates, spread_sum = read_book(hbt)
        seconds = time.perf_counter() - prepared
        hbt.close()
        return Outcome(trades + updates, seconds, prepared - started,
                       checks={"trades": trades, "book_updates": updates, "spread_sum": spread_sum})
    trades, orders, last = flip(hbt, workload.fast, workload.slow, SIZE)
    seconds = time.perf_counter() - prepared
    state = hbt.state_values(0)
    outcome = Outcome(trades, seconds, prepared - started, orders=orders, fills=int(state.num_trades),
                      pnl=state.balance + state.position * last, checks={"trades": trades})
    hbt.close()
    return outcome
