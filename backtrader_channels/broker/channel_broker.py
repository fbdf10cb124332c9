"""ChannelBroker: what every tick-mode broker shares, the simulator's and the live one's.

A backtrader ``BackBroker`` (cash, commission, positions, notifications) attached to a
tick run: it trades the run's markets (one per symbol, each with its ``ChannelData``),
reads the run's clock, records fills and cash flows, and hands the engine its order
notifications when they are due. It also is the whole protocol the engine speaks to a
broker; the simulator (``TickBroker``) and the live broker (``CCXTBroker``) fill it in:

- ``incoming`` / ``end_step()`` / ``watches(market)`` / ``working_orders()`` /
  ``on_trade`` / ``on_book`` / ``first_candidate``: matching against market data
  (the live broker matches nothing: the exchange does);
- ``on_report(report)``: an execution report of the 'orders' kind;
- ``start_live(context)`` / ``stop_live()`` / ``summary()``: a live run's start, its kill
  switch, and its summary rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from backtrader import BuyOrder, Order, SellOrder
from backtrader.brokers import BackBroker

from .. import seam
from .market import Market

if TYPE_CHECKING:
    from ..engine.clock import Clock

__all__ = ["CashFlow", "ChannelBroker", "FillRecord", "LiveContext"]


class FillRecord(tuple):
    """One execution: ``(timestamp, symbol, size, price, commission, order_ref)``; size < 0 sells."""

    __slots__ = ()
    _fields = ("timestamp", "symbol", "size", "price", "commission", "order_ref")

    timestamp = property(lambda self: self[0])
    symbol = property(lambda self: self[1])
    size = property(lambda self: self[2])
    price = property(lambda self: self[3])
    commission = property(lambda self: self[4])
    order_ref = property(lambda self: self[5])


class CashFlow(NamedTuple):
    """Cash booked outside a fill (funding payments...): positive is received."""

    timestamp: float
    symbol: str
    kind: str
    amount: float


@dataclass(frozen=True)
class LiveContext:
    """What a live run gives its broker: the queue its reports go to, a way to run a feed
    with the run's feeds (its failure ends the run), and the strategy that owns orders the
    broker finds at the exchange."""

    queue: Any  # LiveEventQueue
    add_feed: Callable[[Any], None]
    owner: Callable[[], Any]


class ChannelBroker(BackBroker):
    """A BackBroker attached to a tick run's clock and markets (see the module docstring)."""

    lean = False  # whether fills of lone orders skip backtrader's general machinery (lean.py)

    def __init__(self) -> None:
        super().__init__()
        self._clock: Clock | None = None
        self._markets: dict[str, Market] = {}
        self._market_of_data: dict[int, Market] = {}  # id(ChannelData) -> its market
        self._due: deque[float] = deque()  # when each queued notification reaches the strategy
        self._fill_size = 0.0
        self.incoming: list[tuple[float, Order]] = []  # (time it starts working, order)
        self.fills: list[FillRecord] = []
        self.cashflows: list[CashFlow] = []
        self._value_held = False  # inside value_held(): valuations reuse the one it made

    # -- tick mode lifecycle ---------------------------------------------------------------
    def attach(self, clock: Clock, markets: dict[str, Market]) -> None:
        """Enter tick mode: trade ``markets``, read time from ``clock``."""
        self._clock = clock
        self._markets = markets
        self._market_of_data = {}
        self._due.clear()
        self.incoming = []
        self.fills = []
        self.cashflows = []
        seam.set_fill_size(self, self._take_fill_size)

    def detach(self) -> None:
        """Back to bar mode (BackBroker's matching); a tick run stays attached after it ends
        so that values and positions still read the channels' last prices."""
        self._clock = None
        self._due.clear()
        seam.set_fill_size(self, None)

    @property
    def tick_mode(self) -> bool:
        return self._clock is not None

    def _revalue(self) -> None:
        """Tick mode: mark the held positions at their channels' last prices and revalue
        (backtrader's ``_value``), unless inside ``value_held`` with no cash added since."""
        if not self.tick_mode or (self._value_held and not seam.cash_pending(self)):
            return
        now = self._now()
        for data in seam.positions(self):
            self.market_of(data).mark(now)
        seam.revalue(self)

    @contextmanager
    def value_held(self) -> Iterator[float]:
        """Value the portfolio once and keep that value while the block runs.

        A step's equity sample, cash/value notification, Broker observer and analyzers all
        read the same portfolio at the same time: one valuation serves them all.
        """
        value = self.getvalue()
        self._value_held = True
        try:
            yield value
        finally:
            self._value_held = False

    def _now(self) -> float:
        """The run's time (tick mode only)."""
        assert self._clock is not None, "the broker is not attached to a tick run"
        return self._clock.now

    def _take_fill_size(self, order: Order, price: float, ago: int) -> float:
        return self._fill_size

    def market_of(self, data: Any) -> Market:
        """The market an order on ``data`` trades: a channel, its ChannelData, a symbol or a bar feed.

        A bar feed trades the channel symbol it is named after, else the first channel's.
        """
        market = self._market_of_data.get(id(data))
        if market is not None and market.data is data:
            return market
        symbol = getattr(data, "symbol", None) or getattr(data, "_name", None) or data
        market = self._markets.get(symbol) if isinstance(symbol, str) else None
        if market is None:  # the first channel's symbol (live runs may add markets as they go)
            market = next(iter(self._markets.values()), None)
        if market is None:
            raise ValueError(f"no channel to trade {symbol!r}: add one with cerebro.add_channel")
        if market.data is data:
            self._market_of_data[id(data)] = market
        return market

    def _resolve(self, data: Any) -> Any:
        if self._clock is None:
            return data
        market = self._market_of_data.get(id(data))
        if market is not None and market.data is data:  # a ChannelData: itself
            return data
        return self.market_of(data).data

    # -- backtrader broker API, resolved to channel data in tick mode -------------------------
    def getcommissioninfo(self, data: Any) -> Any:
        """The commission scheme of ``data``'s symbol. In tick mode its ChannelData is first
        marked at the run's time and last price: sizers (``PercentSizer``...) and
        ``order_target_*`` read ``data.close[0]`` right after asking for it."""
        if self._clock is not None:
            market = self.market_of(data)
            market.mark(self._clock.now)
            data = market.data
        return super().getcommissioninfo(data)

    def getposition(self, data: Any) -> Any:
        return super().getposition(self._resolve(data))

    def buy(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None, **kwargs):
        return self._order(BuyOrder, owner, data, size, price, plimit, exectype, valid, kwargs)

    def sell(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None, **kwargs):
        return self._order(SellOrder, owner, data, size, price, plimit, exectype, valid, kwargs)

    def _order(self, cls: type[Order], owner: Any, data: Any, size: float, price: float | None,
               plimit: float | None, exectype: int | None, valid: Any, kwargs: dict) -> Order:
        """A new order, on its market's ChannelData (marked at the run's time) in tick mode."""
        if self.tick_mode:
            market = self.market_of(data)
            market.mark(self._now())
            data = market.data
        place = BackBroker.buy if cls is BuyOrder else BackBroker.sell
        return place(self, owner, data, size, price, plimit, exectype, valid, **kwargs)

    def book_cashflow(self, timestamp: float, symbol: str, kind: str, amount: float) -> None:
        """Add ``amount`` to cash now (a funding payment...) and record it."""
        seam.set_cash_now(self, self.getcash() + amount)
        self.cashflows.append(CashFlow(timestamp, symbol, kind, amount))

    # -- notifications, delayed by the response latency ----------------------------------------
    def _response_delay(self, order: Order) -> float:
        """Seconds between an order event and its notification (none: at once)."""
        return 0.0

    def notify(self, order: Order) -> None:
        seam.notification_queue(self).append(seam.clone_order(order))  # BackBroker.notify, faster
        if self._clock is not None:  # tick mode
            self._due.append(self._clock.now + self._response_delay(order))

    def notification_due(self) -> bool:
        """Whether a notification has reached the strategy's side by now."""
        if not seam.notification_queue(self):
            return False
        return not self._due or self._due[0] <= self._now()

    def due_notifications(self) -> Iterator[Order]:
        """The notifications ``get_notification`` hands over now, one by one (including any
        queued while they are handled)."""
        notifs, due = seam.notification_queue(self), self._due
        while True:
            if due:
                if due[0] > self._now():
                    return
                due.popleft()
            if not notifs:
                return
            yield notifs.popleft()

    def get_notification(self) -> Order | None:
        if self._due:
            if self._due[0] > self._now():
                return None
            self._due.popleft()
        return super().get_notification()

    def next(self) -> None:
        if not self.tick_mode:  # bar mode: BackBroker's bar matching
            super().next()

    # -- the engine's protocol: matching (nothing to match by default) ---------------------------
    def end_step(self) -> None:
        """After an event's callbacks: orders submitted during it start working."""

    def watches(self, market: Market) -> bool:
        """Whether an event of ``market`` can change one of this broker's orders."""
        return False

    def working_orders(self) -> list[Order]:
        """Orders that are alive (to cancel on a flatten)."""
        return []

    def on_trade(self, market: Market, price: float, volume: float) -> None:
        """Match against a trade, before it becomes the market's last price."""

    def on_book(self, market: Market) -> None:
        """Match against the market's book just after an update."""

    def first_candidate(self, market: Market, seconds: np.ndarray, prices: np.ndarray) -> int:
        """Index of the first of these trades that could change an order of ``market``."""
        return len(prices)

    # -- the engine's protocol: live runs ----------------------------------------------------
    def on_report(self, report: Any) -> None:
        """An execution report (the 'orders' kind): only a live broker has any."""

    def start_live(self, context: LiveContext) -> None:
        """A live run starts (before its feeds)."""

    def stop_live(self) -> None:
        """A live run stopped: the kill switch."""

    def summary(self) -> list[tuple[str, str]]:
        """Rows for the run's summary."""
        return []
