"""A parameter sweep on every core: a moving-average cross over days of BTC/USDT trades.

Writes a few synthetic days as one Parquet file per day (``BTCUSDT-trades-2025-01-0D.parquet``,
as you would keep real dumps), sweeps ``fast`` x ``slow`` with a job per (parameters, day)
on a local Dask cluster, prints the table and the best sets, writes the table (Parquet,
CSV) and a PnL heatmap, then runs the best set on the first day with a plain Cerebro to
show the sweep row is that run.

    python examples/sweep_grid.py                       # 2 days of 10 minutes, 3 x 2 parameter sets
    python examples/sweep_grid.py --days 5 --minutes 60
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
from backtrader_channels.sweep import sweep
from backtrader_channels.sweep.metrics import day_start

SYMBOL = "BTC/USDT"


class MovingAverageCross(bt.Strategy):
    """Long ``size`` BTC while the mean of the last ``fast`` trade prices is above the last ``slow``."""

    params = (("fast", 50), ("slow", 500), ("size", 0.01))

    def __init__(self) -> None:
        self.fast: deque[float] = deque(maxlen=self.p.fast)
        self.slow: deque[float] = deque(maxlen=self.p.slow)

    def notify_tick(self, tick: TickEvent) -> None:
        self.fast.append(tick.price)
        self.slow.append(tick.price)
        if len(self.slow) < self.p.slow:
            return
        above = sum(self.fast) / len(self.fast) > sum(self.slow) / len(self.slow)
        if above and not self.position:
            self.buy(size=self.p.size)
        elif not above and self.position:
            self.close()


def write_days(directory: Path, days: int, seconds: float) -> str:
    """One Parquet trades file per day; returns their glob."""
    for day in range(1, days + 1):
        name = f"2025-01-{day:02d}"
        trades, _book = sample_market(seed=day, duration=seconds, start=day_start(name))
        write_trades(directory / f"BTCUSDT-trades-{name}.parquet", [trades])
    return str(directory / "BTCUSDT-trades-*.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=10.0, help="of trading per day")
    parser.add_argument("--fast", action="store_true", help="accepted for uniformity; the default is fast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ticks = write_days(Path(tmp), args.days, 60 * args.minutes)
        result = sweep(MovingAverageCross, {"fast": [20, 50, 100], "slow": [300, 600]}, ticks,
                       per_day=True, workers=2, out=Path(tmp) / "sweep", progress=False)
        print(result.table.drop(columns="error").to_string(index=False, float_format="%.4f"))
        print(f"\nwrote {', '.join(sorted(path.name for path in result.files.values()))}")
        best = result.best(3)
        print(f"\nbest parameter sets:\n{best.to_string(index=False, float_format='%.4f')}")
        top = best.iloc[0]
        row = result.table.query("fast == @top.fast and slow == @top.slow").iloc[0]
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(10_000.0)
        cerebro.broker.setcommission(commission=0.001)
        cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=ticks.replace("*", row.day))
        cerebro.addstrategy(MovingAverageCross, fast=int(top.fast), slow=int(top.slow))
        cerebro.run(mode=bt.RunMode.TICK)
    run = cerebro.tick_result
    print(f"\nbest set fast={int(top.fast)} slow={int(top.slow)} on {row.day}, run again with a plain Cerebro:")
    print(f"sweep row PnL {row.pnl:+.6f}, rerun PnL {run.pnl:+.6f}, same: {row.pnl == run.pnl}")
    print()
    print(run.summary())


if __name__ == "__main__":
    main()
