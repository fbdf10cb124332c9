"""The chaos test's strategy, and its run in a child process (``python -m tests.broker.live.chaos SPEC``)
that the test kills with SIGKILL.

``ChaosTrader`` does what its driver queues (an order or a cancel), on the next trade, and
records every order notification with the order's client id. In the child, commands come
as JSON lines on stdin (each acknowledged with a ``["queued", ""]`` line once queued, so the
driver sends the trade that runs it only then) and notifications leave as JSON lines on
stdout after ``NOTE``, so the test knows what the killed run told its strategy.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any

import backtrader as bt

import backtrader_channels  # noqa: F401  (installs tick mode)
from backtrader_channels.broker.ccxt_broker import CCXTBroker
from backtrader_channels.feeds import CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue

SYMBOL = "BTC/USDT"
Command = tuple[Any, ...]  # ("buy"|"sell", "market"|"limit", size, price) or ("cancel", k)


class ChaosTrader(bt.Strategy):
    """Runs the queued commands on each trade; ``notes`` holds (status, client id) per notification.

    A cancel ``("cancel", k)`` cancels the k-th (modulo their number) of the broker's working
    orders, oldest first, resumed ones included."""

    params = (("commands", None), ("on_note", None))

    def __init__(self) -> None:
        self.commands: deque[Command] = self.p.commands if self.p.commands is not None else deque()
        self.notes: list[tuple[str, str]] = []

    def notify_tick(self, tick: Any) -> None:
        while self.commands:
            self.act(self.commands.popleft())

    def act(self, command: Command) -> None:
        if command[0] == "cancel":
            working = sorted(self.broker.working_orders(), key=lambda order: order.ref)
            if working:
                self.cancel(working[command[1] % len(working)])
            return
        side, kind, size, price = command
        place = self.buy if side == "buy" else self.sell
        if kind == "market":
            place(size=size)
        else:
            place(size=size, price=price, exectype=bt.Order.Limit)

    def notify_order(self, order: bt.Order) -> None:
        note = (order.getstatusname(), order.info.get("client_id") or "")
        self.notes.append(note)
        if self.p.on_note is not None:
            self.p.on_note(note)


QUEUED = ("queued", "")
NOTE = "chaos-note "  # starts each line of the protocol on stdout (anything else printed there is not)


def _read_commands(stream: IO[str], commands: deque[Command], notes_out: Callable[[tuple[str, str]], None]) -> None:
    for line in stream:
        commands.append(tuple(json.loads(line)))
        notes_out(QUEUED)


def run_child(spec: dict[str, Any], commands_in: IO[str], notes_out: Callable[[tuple[str, str]], None]) -> None:
    """A live run as ``live_run`` makes it (CCXTLiveTickFeed + CCXTBroker), for ``spec``:
    ``market_config``, ``broker_config``, ``run_id``, ``run_dir``, ``execution``."""
    queue = LiveEventQueue()
    cerebro = bt.Cerebro()
    cerebro.add_live_feed(CCXTLiveTickFeed("binance", SYMBOL, queue, config=spec["market_config"]))
    cerebro.setbroker(CCXTBroker("binance", spec["broker_config"], run_id=spec["run_id"], run_dir=spec["run_dir"],
                                 cancel_on_stop=False, execution=spec["execution"]))
    commands: deque[Command] = deque()
    threading.Thread(target=_read_commands, args=(commands_in, commands, notes_out), daemon=True).start()
    cerebro.addstrategy(ChaosTrader, commands=commands, on_note=notes_out)
    cerebro.run(mode=bt.RunMode.TICK, duration=120)


_PRINTING = threading.Lock()  # the run's thread and the command reader both write: one whole line at a time


def _print_note(note: tuple[str, str]) -> None:
    with _PRINTING:
        sys.stdout.write(f"{NOTE}{json.dumps(note)}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    run_child(json.loads(sys.argv[1]), sys.stdin, _print_note)
