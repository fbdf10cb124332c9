"""nautilus_trader's ``BacktestEngine`` in the peers' workloads (the ``peers`` extra).

Trades become ``TradeTick``s (``TradeTickDataWrangler``) and book updates
``OrderBookDelta``s (``F_LAST`` on the last of each update); both are preparation,
not timed. The venue is a cash account with NETTING positions and no fees, on an
instrument like ``TestInstrumentProvider.btcusdt_binance()``. Its matching engine fills a
market order at once against the book it keeps from the trades: at the price of the
trade being handled, where tick mode and backtrader fill at the next trade.
"""

from __future__ import annotations

import time
from typing import Any

from ...extras import missing_extra
from .workload import CASH, SIZE, EmaCross, Outcome, Workload, book_columns, trade_columns

try:
    import pandas as pd
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import DataEngineConfig, LoggingConfig
    from nautilus_trader.model.currencies import BTC, USDT
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import (
        AccountType,
        BookAction,
        BookType,
        OmsType,
        OrderSide,
        RecordFlag,
    )
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy
except ImportError as error:
    raise missing_extra("peers", "the nautilus_trader comparison", error) from error

VENUE = Venue("BINANCE")


def instrument() -> CurrencyPair:
    """BTC/USDT on Binance (prices 0.01, sizes 0.000001) with no maker or taker fee."""
    spec = CurrencyPair.to_dict(TestInstrumentProvider.btcusdt_binance())
    spec.update(maker_fee="0", taker_fee="0")
    return CurrencyPair.from_dict(spec)


def trade_ticks(pair: CurrencyPair, workload: Workload) -> list:
    trades = trade_columns(workload.trades_path())
    frame = pd.DataFrame({"price": trades.price, "quantity": trades.volume, "buyer_maker": trades.is_sell,
                          "trade_id": trades.trade_id}, index=pd.to_datetime(trades.ts_ns, unit="ns", utc=True))
    return TradeTickDataWrangler(pair).process(frame)


def book_deltas(pair: CurrencyPair, workload: Workload) -> list:
    """``OrderBookDelta``s, ``F_LAST`` on the last of each update (the engine buffers the
    rest: one ``on_order_book_deltas`` per update); a snapshot starts with a clear; size 0
    deletes a level."""
    book = book_columns(workload.book_path())
    sides = (OrderSide.BUY, OrderSide.SELL)
    updates = []
    for k, ts in enumerate(book.ts_ns.tolist()):
        lo, hi = int(book.offsets[k]), int(book.offsets[k + 1])
        deltas = [OrderBookDelta.clear(pair.id, k, ts, ts)] if book.is_snapshot[k] else []
        for side, price, size in zip(book.side[lo:hi].tolist(), book.price[lo:hi].tolist(),
                                     book.size[lo:hi].tolist()):
            action = BookAction.DELETE if size == 0 else BookAction.UPDATE
            order = BookOrder(sides[side], Price(price, 2), Quantity(size, 6), 0)
            deltas.append(OrderBookDelta(pair.id, action, order, 0, k, ts, ts))
        last = deltas[-1]
        deltas[-1] = OrderBookDelta(pair.id, last.action, last.order, RecordFlag.F_LAST, k, ts, ts)
        updates += deltas
    return updates


class NautilusFlip(Strategy):
    """The rule of ``EmaCross`` in ``on_trade_tick``: market orders of ``SIZE`` BTC."""

    def __init__(self, pair: CurrencyPair, fast: float, slow: float) -> None:
        super().__init__()
        self.pair = pair.id
        self.cross = EmaCross(fast, slow)
        self.size = Quantity(SIZE, 6)
        self.events = self.orders = self.fills = 0
        self.fill_prices: list[float] = []

    def on_start(self) -> None:
        self.subscribe_trade_ticks(self.pair)

    def on_trade_tick(self, tick: Any) -> None:
        self.events += 1
        move = self.cross.update(tick.price.as_double())
        if move > 0:
            self.submit_order(self.order_factory.market(self.pair, OrderSide.BUY, self.size))
            self.orders += 1
        elif move < 0 and self.portfolio.is_net_long(self.pair):
            held = Quantity(float(self.portfolio.net_position(self.pair)), 6)
            self.submit_order(self.order_factory.market(self.pair, OrderSide.SELL, held))
            self.orders += 1

    def on_order_filled(self, event: Any) -> None:
        self.fills += 1
        self.fill_prices.append(event.last_px.as_double())


class NautilusBookReader(Strategy):
    """Reads the best bid and ask of the engine's own book on every update; counts trades."""

    def __init__(self, pair: CurrencyPair) -> None:
        super().__init__()
        self.pair = pair.id
        self.trades = self.updates = 0
        self.spread_sum = 0.0

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(self.pair, BookType.L2_MBP)
        self.subscribe_trade_ticks(self.pair)

    def on_order_book_deltas(self, deltas: Any) -> None:
        self.updates += 1
        book = self.cache.order_book(self.pair)
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is not None and ask is not None:
            self.spread_sum += ask.as_double() - bid.as_double()

    def on_trade_tick(self, tick: Any) -> None:
        self.trades += 1


def run_nautilus(workload: Workload) -> Outcome:
    """Engine set-up and ``engine.run()`` are timed; building nautilus's data objects is not."""
    started = time.perf_counter()
    pair = instrument()
    data = [trade_ticks(pair, workload)]
    if workload.kind == "book":
        data.append(book_deltas(pair, workload))  # added on its own: the engine looks at each list's first item
    prepared = time.perf_counter()
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(bypass_logging=True),
                                                 data_engine=DataEngineConfig(buffer_deltas=True)))
    engine.add_venue(venue=VENUE, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     starting_balances=[Money(CASH, USDT), Money(0, BTC)],
                     book_type=BookType.L2_MBP if workload.kind == "book" else BookType.L1_MBP)
    engine.add_instrument(pair)
    for items in data:
        engine.add_data(items)
    strategy = (NautilusBookReader(pair) if workload.kind == "book"
                else NautilusFlip(pair, workload.fast, workload.slow))
    engine.add_strategy(strategy)
    engine.run()
    seconds = time.perf_counter() - prepared
    if workload.kind == "book":
        outcome = Outcome(strategy.trades + strategy.updates, seconds, prepared - started,
                          checks={"trades": strategy.trades, "book_updates": strategy.updates,
                                  "spread_sum": strategy.spread_sum})
    else:
        account = engine.portfolio.account(VENUE)
        last = data[0][-1].price.as_double()
        value = float(account.balance_total(USDT)) + float(account.balance_total(BTC)) * last
        outcome = Outcome(strategy.events, seconds, prepared - started, orders=strategy.orders,
                          fills=strategy.fills, pnl=value - CASH,
                          checks={"trades": strategy.events, "fill_prices": strategy.fill_prices})
    engine.dispose()
    return outcome
