"""``btchannels validate`` agrees with the book and the backtest on order-book files."""

from __future__ import annotations

import pytest

from backtrader_channels import BookError
from backtrader_channels.cli import main
from tests.conftest import T0, write_book_jsonl, write_trades_csv

SNAPSHOT = (T0 + 1, "snapshot", [[99.0, 1.0]], [[101.0, 1.0]])


def backtest(tmp_path, book) -> int:
    ticks = write_trades_csv(tmp_path / "t.csv", [(T0 + 5, 100.0, 1, "buy", 1)])
    strategy = tmp_path / "s.py"
    strategy.write_text("import backtrader as bt\n\n\nclass S(bt.Strategy):\n    pass\n")
    return main(["backtest", str(strategy), "--ticks", str(ticks), "--book", str(book)])


def test_validate_refuses_the_book_updates_a_backtest_refuses(tmp_path, capsys):
    book = write_book_jsonl(tmp_path / "b.jsonl", [
        (T0, "delta", [[99.0, 2.0]], []),  # before any snapshot
        SNAPSHOT,
        (T0 + 2, "delta", [[102.0, 1.0]], []),  # a bid above the best ask: crosses the book
    ])
    assert main(["validate", str(book)]) == 1
    out = capsys.readouterr().out
    assert "3 events, 2 rejected" in out
    assert "orderbook BTC/USDT: crossed 1" in out and "orderbook BTC/USDT: delta_before_snapshot 1" in out
    assert backtest(tmp_path, book) == 2
    assert "delta before any snapshot" in capsys.readouterr().err


def test_a_crossed_snapshot_is_an_error_not_shown_to_the_strategy(tmp_path, capsys, run_ticks):
    crossed = (T0 + 1, "snapshot", [[102.0, 1.0], [99.0, 1.0]], [[101.0, 1.0]])
    book = write_book_jsonl(tmp_path / "crossed.jsonl", [crossed, (T0 + 2, "delta", [[99.5, 1.0]], [])])
    assert main(["validate", str(book)]) == 1
    assert "orderbook BTC/USDT: crossed_book 1" in capsys.readouterr().out
    assert backtest(tmp_path, book) == 2
    err = capsys.readouterr().err
    assert f"at timestamp {T0 + 1}" in err and "snapshot is crossed (bid 102.0 >= ask 101.0)" in err
    with pytest.raises(BookError) as raised:
        run_ticks(trades=[(T0 + 5, 100.0, 1, "buy", 1)], book=[crossed])
    assert raised.value.kind == "crossed"

