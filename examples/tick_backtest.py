"""A trades-only tick backtest: trade-flow momentum on the bundled synthetic BTC/USDT hour.

The strategy reads every trade in ``notify_tick``. When the last 200 trades were mostly
aggressive buys and the price is above where it was 60 s ago, it buys at market; once the
entry has filled it places a take-profit limit and a stop-loss stop as an OCO pair (one
filling cancels the other). With no order book, the tick broker fills against the trades:
market orders at the next trade, the limit at its price once a trade prints through it,
the stop at the first trade at or beyond it.

    python examples/tick_backtest.py                   # the synthetic sample hour
    python examples/tick_backtest.py --ticks FILE      # your trades (CSV, Parquet, Binance zip)
"""

from __future__ import annotations

import argparse
import tempfile
from collections import deque
from pathlib import Path

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers cerebro.add_channel and bt.RunMode)
from backtrader_channels import TickChannel, TickEvent
from backtrader_channels.sample import sample_market
from backtrader_channels.sources import write_trades

SYMBOL = "BTC/USDT"


class FlowMomentum(bt.Strategy):
    params = (
        ("window", 200),  # trades in the flow window
        ("buy_share", 0.65),  # share of the window's volume bought by aggressors, to enter
        ("lookback", 60.0),  # seconds: enter only if the price is above its level this long ago
        ("size", 0.02),  # BTC per entry
        ("take_profit", 0.0015),  # fraction above the entry fill
        ("stop_loss", 0.0010),  # fraction below the entry fill
        ("cooldown", 30.0),  # seconds between entries
    )

    def __init__(self) -> None:
        self.flow: deque[tuple[float, bool]] = deque(maxlen=self.p.window)  # (volume, is buy)
        self.prices: deque[tuple[float, float]] = deque()  # (time, price) over the lookback
        self.busy = False  # an entry or its exits are working
        self.next_entry = 0.0

    def notify_tick(self, tick: TickEvent) -> None:
        self.flow.append((tick.volume, tick.is_buy))
        self.prices.append((tick.timestamp, tick.price))
        while self.prices[0][0] < tick.timestamp - self.p.lookback:
            self.prices.popleft()
        if self.busy or self.position or tick.timestamp < self.next_entry:
            return
        if len(self.flow) < self.flow.maxlen:
            return
        total = sum(volume for volume, _ in self.flow)
        bought = sum(volume for volume, is_buy in self.flow if is_buy)
        if bought / total > self.p.buy_share and tick.price > self.prices[0][1]:
            self.buy(size=self.p.size)  # fills at the next trade, never this one
            self.busy = True
            self.next_entry = tick.timestamp + self.p.cooldown

    def notify_order(self, order: bt.Order) -> None:
        if order.status != order.Completed:
            if order.status in (order.Margin, order.Rejected) and order.isbuy():
                self.busy = False
            return
        if order.isbuy():  # the entry filled: protect it
            entry = order.executed.price
            stop = self.sell(size=order.executed.size, exectype=bt.Order.Stop,
                             price=round(entry * (1 - self.p.stop_loss), 2))
            self.sell(size=order.executed.size, exectype=bt.Order.Limit,
                      price=round(entry * (1 + self.p.take_profit), 2), oco=stop)
        else:  # an exit filled; the broker cancelled the other leg
            self.busy = False

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            print(f"  {self.event_datetime:%H:%M:%S}  closed trade  pnl {trade.pnl:+8.2f}"
                  f"  net {trade.pnlcomm:+8.2f}")


def sample_trades(directory: Path) -> Path:
    """The trades of the synthetic sample hour, written as a project CSV."""
    trades, _book = sample_market(seed=7)
    path = directory / "BTCUSDT-sample-trades.csv.gz"
    write_trades(path, [trades], symbol=SYMBOL)
    return path


def run(ticks: Path) -> backtrader_channels.RunResult:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)  # 0.1% of the traded value
    channel = cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=ticks)
    print(f"trades: {ticks} (format {channel.source.format})")
    cerebro.addstrategy(FlowMomentum)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    analysis = strategy.analyzers.trades.get_analysis()
    closed = analysis.get("total", {}).get("closed", 0)
    print(f"TradeAnalyzer: {closed} closed trades")
    return cerebro.tick_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=Path, help="a trades file; default: the synthetic sample hour")
    parser.add_argument("--fast", action="store_true", help="accepted for uniformity; the example is fast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ticks = args.ticks or sample_trades(Path(tmp))
        result = run(ticks)
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
