"""``btchannels bench --peers``: the same workloads in this project, backtrader, nautilus_trader and
hftbacktest (the ``peers`` extra, installed by the ``test`` extra), one table.

Ours and backtrader's fills must be the same: a market order fills at the next trade in tick
mode and at the next bar's open (the next trade) in backtrader. nautilus_trader and hftbacktest
fill at once against a book built from the trade being handled, so their PnL differs, and
nautilus fills an order in parts when that trade was smaller than the order.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from backtrader_channels.bench.peers import (
    ENGINE_NAMES,
    INSTALL_HINT,
    Engine,
    format_peers,
    run_peers,
)

TRADES = 5_000
UPDATES = TRADES // 10


def table_rows(out: str) -> dict[tuple[str, str], dict[str, str]]:
    """The Markdown table's rows by (workload, engine name without its version)."""
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        row = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        rows[(row["workload"], row["engine"].split()[0])] = row
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip(" x"))


@pytest.mark.slow
def test_bench_peers_prints_every_engine_on_both_workloads(tmp_path):
    done = subprocess.run([sys.executable, "-m", "backtrader_channels.cli", "bench", "--peers",
                           "--trades", str(TRADES), "--rounds", "1", "--ema", "0.1,0.01", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"btchannels bench --peers ({TRADES:,} trades) on" in done.stdout
    rows = table_rows(done.stdout)
    assert list(rows) == [(kind, name) for kind in ("trades", "book") for name in ENGINE_NAMES]
    assert all("not installed" not in row["note"] for row in rows.values()), "the test extra installs the peers"

    trades = {name: rows[("trades", name)] for name in ENGINE_NAMES}
    assert {name: number(row["events"]) for name, row in trades.items()} == dict.fromkeys(ENGINE_NAMES, TRADES)
    orders = number(trades["backtrader-channels"]["orders"])
    assert orders > TRADES // 100  # the fast weights cross often: a real test of the fills
    assert {name: number(row["orders"]) for name, row in trades.items()} == dict.fromkeys(ENGINE_NAMES, orders)
    ours, backtrader = trades["backtrader-channels"], trades["backtrader"]
    assert number(ours["fills"]) == number(backtrader["fills"]) == orders
    assert ours["PnL USDT"] == backtrader["PnL USDT"]
    assert number(trades["nautilus_trader"]["fills"]) > orders  # partial fills against one trade's size
    assert number(trades["hftbacktest"]["fills"]) == orders
    assert number(ours["ours / engine"]) == 1.0
    assert all(number(row["events/s"]) > 0 and number(row["peak RSS MB"]) > 0 for row in trades.values())

    assert rows[("book", "backtrader")]["note"] == "backtrader has no order book"
    books = [rows[("book", name)] for name in ("backtrader-channels", "nautilus_trader", "hftbacktest")]
    assert {number(row["events"]) for row in books} == {TRADES + UPDATES}
    assert {row["note"].split(", mean spread")[0] for row in books} == {f"{TRADES:,} trades + {UPDATES:,} book updates"}
    assert len({row["note"] for row in books}) == 1  # the same mean spread: every engine kept the same book


def test_a_missing_peer_is_a_row_with_the_install_hint(tmp_path):
    absent = Engine("absent", "no_such_engine_installed", "ours", "run_ours")
    results = run_peers(1_000, rounds=1, root=tmp_path, engines=(absent,))
    assert [(result.workload, result.missing, result.runs) for result in results] == [
        ("trades", f"not installed: {INSTALL_HINT}", []), ("book", f"not installed: {INSTALL_HINT}", [])]
    assert f"| trades | absent | | | | | | | | | | not installed: {INSTALL_HINT} |" in format_peers(results)
