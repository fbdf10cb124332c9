"""From Binance's public data to an HTML report: ``btchannels download``, then ``btchannels
backtest --bars 1m --report``, the quickstart's commands, against a local copy of
data.binance.vision (``BinanceDataServer``, two published days of BTCUSDT trades).

    python examples/download_and_report.py            # everything in a temporary directory
    python examples/download_and_report.py --keep DIR # keep the cache and report.html in DIR
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from backtrader_channels.cli import main
from backtrader_channels.testing.binance_data import BinanceDataServer, generate_trades

STRATEGY = Path(__file__).resolve().parent / "strategies" / "sma_cross.py"


def run(work: Path) -> None:
    with BinanceDataServer(work / "site") as site:
        first = 1
        for n, day in enumerate(("2025-01-01", "2025-01-02")):
            trades = generate_trades(first, day, 20_000, seed=n + 1, price=94_000.0)
            site.publish_trades("BTCUSDT", day, trades)
            first += len(trades)
        # 1. download (verified against the published checksums)
        assert main(["download", "--symbol", "BTC/USDT", "--data", "trades", "--market", "spot",
                     "--from", "2025-01-01", "--to", "2025-01-02", "--out", str(work / "data"),
                     "--base-url", site.url, "--no-progress"]) == 0
    day = work / "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-02.zip"
    # 2. backtest one day on 1-minute bars made from its trades, with the report
    report, trades = work / "report.html", work / "trades.csv"
    assert main(["backtest", str(STRATEGY), "--ticks", str(day), "--bars", "1m", "--param", "fast=5",
                 "--param", "slow=20", "--analyzer", "SQN", "--report", str(report), "--export", str(trades)]) == 0
    with open(trades, newline="") as file:
        rows = list(csv.DictReader(file))
    print(f"exported {len(rows)} trades, {sum(row['is_open'] == 'true' for row in rows)} open at the end")
    print(f"report {report.stat().st_size / 1e6:.1f} MB, {report.read_text().count('<tr>') - 1} table rows")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep what is written there")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep)
    else:
        with tempfile.TemporaryDirectory() as work:
            run(Path(work))
