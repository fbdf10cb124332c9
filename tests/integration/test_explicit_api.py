"""``import btchannels``: the same tick mode through explicit classes, backtrader untouched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import T0, write_trades_csv

ROOT = Path(__file__).resolve().parents[2]


def run_script(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_btchannels_runs_a_tick_backtest_and_patches_nothing(tmp_path):
    write_trades_csv(tmp_path / "t.csv", [(T0, 100.0, 1.0, "buy"), (T0 + 1, 101.0, 1.0, "buy"),
                                          (T0 + 2, 103.0, 1.0, "sell")])
    completed = run_script("""
        import backtrader as bt
        original_run, original_preinit = bt.Cerebro.run, bt.strategy.MetaStrategy.dopreinit
        import btchannels

        class Buy(btchannels.Strategy):
            def __init__(self):
                self.trades = self.channels[("tick", "BTC/USDT")]  # available in __init__
                self.times = []

            def notify_tick(self, tick):
                self.times.append(self.event_time)
                if len(self.trades) == 1:
                    self.buy(size=1.0)

        cerebro = btchannels.Cerebro()
        cerebro.broker.setcash(1_000.0)
        cerebro.add_channel(btchannels.TickChannel, symbol="BTC/USDT", dataname="t.csv")
        cerebro.addstrategy(Buy)
        (strategy,) = cerebro.run(mode=btchannels.RunMode.TICK)
        print("fills", [(f.price, f.size) for f in cerebro.tick_result.fills])
        print("value", cerebro.broker.getvalue(), "times", len(strategy.times))
        print("untouched", bt.Cerebro.run is original_run, bt.strategy.MetaStrategy.dopreinit is original_preinit,
              hasattr(bt.Cerebro, "add_channel"), hasattr(bt, "RunMode"), hasattr(bt.Strategy, "event_time"))
    """, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "fills [(101.0, 1.0)]",
        "value 1002.0 times 3",  # bought at 101, marked at 103
        "untouched True True False False False",
    ]


def test_import_backtrader_channels_still_installs_the_api_on_backtrader(tmp_path):
    completed = run_script("""
        import backtrader as bt
        import backtrader_channels
        print(hasattr(bt.Cerebro, "add_channel"), bt.RunMode.TICK.value, hasattr(bt.Strategy, "event_time"))
    """, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["True", "tick", "True"]
