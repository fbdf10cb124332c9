"""RunStore: a run's state in SQLite, read back whole by the next process of the same run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backtrader_channels.execution import LiveOrder, OrderState, RunStore
from backtrader_channels.execution.store import BookedFill


def fill(trade_id: str, amount: float = 0.01) -> BookedFill:
    return BookedFill("BTC/USDT", trade_id, "r1x1", "7", "buy", 49_000.0, amount, 0.049, "USDT", 1.0, "stream", None)


def test_client_id_numbers_go_on_across_processes_and_never_repeat(tmp_path):
    store = RunStore(tmp_path, "r1")
    assert [store.next_number() for _ in range(3)] == [1, 2, 3]
    store.close()
    script = "import sys; from backtrader_channels.execution import RunStore; s = RunStore(sys.argv[1], 'r1'); " \
             "print(s.resumed, s.next_number())"
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "4"]
    again = RunStore(tmp_path, "r1")
    again.raise_counter(10)  # an id of this run seen at the exchange
    again.raise_counter(2)  # never back
    assert again.next_number() == 11


def test_orders_keep_their_order_and_state_and_fills_are_booked_once(tmp_path):
    store = RunStore(tmp_path, "r1")
    first, second = LiveOrder("r1x1", "BTC/USDT", "buy", "limit", 0.1, 49_000.0), LiveOrder(
        "r1x2", "BTC/USDT", "sell", "market", 0.05, None, params={"reduceOnly": True})
    store.save_order(first)
    store.save_order(second)
    first.move(OrderState.OPEN)
    first.exchange_id, first.filled = "7", 0.02
    store.save_order(first)
    second.move(OrderState.REJECTED)
    store.save_order(second)
    assert store.add_fill(fill("100")) and not store.add_fill(fill("100")) and store.add_fill(fill("101"))
    store.set_watermark("BTC/USDT", 101)
    store.set_watermark("BTC/USDT", 90)  # a later, shorter reconciliation never moves it back
    store.close()
    back = RunStore(tmp_path, "r1")
    assert [(o.client_id, o.state, o.exchange_id, o.filled, o.params) for o in back.orders()] == [
        ("r1x1", OrderState.OPEN, "7", 0.02, {}), ("r1x2", OrderState.REJECTED, None, 0.0, {"reduceOnly": True})]
    assert [o.client_id for o in back.orders(live_only=True)] == ["r1x1"]
    assert [f.trade_id for f in back.fills()] == ["100", "101"] and back.has_fill("BTC/USDT", "101")
    assert back.watermark("BTC/USDT") == 101 and back.watermark("ETH/USDT") is None


def test_another_runs_directory_is_refused_by_name(tmp_path):
    RunStore(tmp_path, "r1").close()
    with pytest.raises(ValueError, match="holds run 'r1', not 'r2'"):
        RunStore(tmp_path, "r2")
