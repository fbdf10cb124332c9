"""Bars and ticks in one tick-mode run: an SMA on 1-minute bars, trades placed on ticks.

The script builds 1-minute OHLCV bars from the sample's trades with numpy, writes them to
a CSV and adds them with ``cerebro.adddata`` like any backtrader feed; the same trades go
in as a TickChannel. A bar is stamped with its *close* time (the bar of 00:00-00:01 is
stamped 00:01:00) and reaches the strategy when it closes, after the ticks of that
timestamp, so the SMA only ever holds finished bars. On each tick the strategy compares
the trade price with the SMA of the last 5 closes: above by 0.05 % it buys, below it sells.

    python examples/bars_and_ticks.py
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers cerebro.add_channel and bt.RunMode)
from backtrader_channels import TickChannel, TickEvent
from backtrader_channels.channel_bars import bars_of
from backtrader_channels.sample import sample_market
from backtrader_channels.sources import TradeChunk, write_trades

SYMBOL = "BTC/USDT"
BAR_SECONDS = 60


def minute_bars(trades: TradeChunk, path: Path) -> int:
    """Write 1-minute OHLCV bars of ``trades`` to a CSV, each stamped with its close time."""
    bars = bars_of(trades.ts_ns, trades.price, trades.volume, BAR_SECONDS * 1_000_000_000)
    lines = ["datetime,open,high,low,close,volume"]
    for end_ns, open_, high, low, close, volume in zip(*bars):
        close_time = datetime.fromtimestamp(end_ns // 1_000_000_000, tz=timezone.utc)
        lines.append(f"{close_time:%Y-%m-%d %H:%M:%S},{open_},{high},{low},{close},{volume:.5f}")
    path.write_text("\n".join(lines) + "\n")
    return len(bars)


class SmaOnBarsTradeOnTicks(bt.Strategy):
    params = (("period", 5), ("band", 0.0005), ("size", 0.05))

    def __init__(self) -> None:
        self.sma = bt.indicators.SMA(self.data.close, period=self.p.period)
        self.order: bt.Order | None = None

    def next(self) -> None:
        # with bar feeds next() is the bar callback: once per bar close, after the warm-up
        if len(self.data) <= self.p.period + 2:
            print(f"  bar closed {bt.num2date(self.data.datetime[0]):%H:%M:%S}, delivered at"
                  f" {self.event_datetime:%H:%M:%S.%f}: close {self.data.close[0]:,.2f},"
                  f" SMA {self.sma[0]:,.2f}")

    def notify_tick(self, tick: TickEvent) -> None:
        if len(self.data) < self.p.period or self.order is not None:
            return  # the SMA is not ready yet, or an order is working
        sma = self.sma[0]
        if not self.position and tick.price > sma * (1 + self.p.band):
            self.order = self.buy(size=self.p.size)
        elif self.position and tick.price < sma * (1 - self.p.band):
            self.order = self.close()

    def notify_order(self, order: bt.Order) -> None:
        if order.alive():
            return
        self.order = None
        if order.status == order.Completed:
            side = "buy " if order.isbuy() else "sell"
            print(f"  {self.event_datetime:%H:%M:%S.%f}  {side} {abs(order.executed.size)}"
                  f" @ {order.executed.price:,.2f}  (SMA {self.sma[0]:,.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="a 20-minute sample instead of an hour")
    args = parser.parse_args()
    trades, _book = sample_market(seed=7, duration=1200.0 if args.fast else 3600.0)
    with tempfile.TemporaryDirectory() as tmp:
        ticks = Path(tmp) / "trades.csv"
        write_trades(ticks, [trades], symbol=SYMBOL)
        bars = Path(tmp) / "bars-1m.csv"
        print(f"{len(trades):,} trades -> {minute_bars(trades, bars)} one-minute bars")

        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(10_000.0)
        cerebro.broker.setcommission(commission=0.001)
        bar_feed = bt.feeds.GenericCSVData(
            dataname=str(bars), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
            datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
        )
        cerebro.adddata(bar_feed, name=SYMBOL)  # named like the channel: orders trade BTC/USDT
        cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=ticks)
        cerebro.addstrategy(SmaOnBarsTradeOnTicks)
        cerebro.run(mode=bt.RunMode.TICK)
    print()
    print(cerebro.tick_result.summary())


if __name__ == "__main__":
    main()
