"""Seeded chaos against the local exchange: can live orders be trusted with money?

Each seed plans a scenario with ``random.Random(seed)``: two or three runs of the same
``run_id`` and ``run_dir``, each driving random market and limit orders (buys and sells
within the account), cancels and trades, under the faults of real outages: creates that
time out after or before the exchange accepted them, 429s, failing look-ups (GET
/api/v3/order held past the client's timeout), the user stream dropped on a fill, silent or
frozen. A run ends with a clean stop (``cancel_on_stop=False``, the next run resumes) or
with ``kill -9`` of a child process running it (``chaos.py``); the last run stops cleanly.

After every scenario the exchange's ledger must equal backtrader's: every fill at the
exchange booked exactly once (by trade id, across the runs), the position and cash the
broker reports equal to the account's; no client id reused; no order notified Accepted (or
filled) that the exchange lacks, none notified Rejected that it has; every order open at
the exchange alive in the broker's state at each clean stop, and each order's final state
the exchange's. A failure prints the seed and the actions done, so it reproduces.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import backtrader as bt
import pytest

from backtrader_channels.execution import OrderState, RunStore
from backtrader_channels.testing.exchange import FakeExchange

from .chaos import NOTE, QUEUED, SYMBOL, ChaosTrader
from .conftest import Recorder, broker_config, live_run, run_dir_of, saw, trades_then, wait_for

SEEDS = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38]
START = {"USDT": 100_000.0, "BTC": 1.0}
MID = 50_000
EXECUTION = {"quiet_after": 1.0, "not_found_grace": 1.0, "lookup_window": 4.0, "keep_alive_ms": 1000}
STALL = 1.2  # seconds a held answer waits: past the broker's 1 s ccxt timeout
ROOT = Path(__file__).resolve().parents[3]  # the repository: the child runs -m tests.broker.live.chaos there
# the exchange's order status -> the broker's final or live state for it
STATE_OF = {"NEW": {OrderState.OPEN, OrderState.PENDING_CANCEL},
            "PARTIALLY_FILLED": {OrderState.OPEN, OrderState.PENDING_CANCEL},
            "FILLED": {OrderState.FILLED}, "CANCELED": {OrderState.CANCELED}, "EXPIRED": {OrderState.EXPIRED}}

Step = tuple[Any, ...]


@dataclass
class Segment:
    """One run of the scenario: 'clean' (stopped by the driver) or 'kill' (SIGKILL mid-run)."""

    kind: str
    steps: list[Step]
    cancel_on_stop: bool = False


# -- the plan ----------------------------------------------------------------------------------
def _prints(rng: random.Random, count: int) -> list[tuple[float, float]]:
    return [(float(MID + rng.randint(-30, 30)), rng.choice((0.005, 0.01, 0.02, 0.05, 0.2))) for _ in range(count)]


def _order(rng: random.Random, fault: str | None = None) -> Step:
    """("order", side, kind, size, limit price, fault, fault times, the trade that runs it)."""
    side = "buy" if rng.random() < 0.55 else "sell"  # sells of at most 0.04 BTC: within the 1 BTC held
    kind = "market" if rng.random() < 0.4 else "limit"
    size = rng.randint(1, 40) / 1000
    price = float(MID + rng.randint(-30, 30)) if kind == "limit" else None
    if fault is None:
        fault = rng.choices([None, "timeout_after_accept", "timeout_before_accept", "rate_limit"], [10, 3, 1, 2])[0]
    times = rng.randint(1, 2) if fault == "rate_limit" else 1
    return ("order", side, kind, size, price, fault, times, _prints(rng, 1))


def _clean_steps(rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    for _ in range(rng.randint(8, 14)):
        what = rng.choices(["order", "trades", "cancel", "drop", "outage", "stall"], [5, 4, 2, 1, 1, 1])[0]
        if what == "order":
            steps.append(_order(rng))
        elif what == "trades":
            steps.append(("trades", _prints(rng, rng.randint(1, 4))))
        elif what == "cancel":
            steps.append(("cancel", rng.randint(0, 9), _prints(rng, 1)))
        elif what == "drop":
            steps.append(("drop_user_stream_on_fill",))
            steps.append(("trades", _prints(rng, rng.randint(1, 3))))
        elif what == "outage":
            steps.append(("user_stream", rng.choice(("silent", "frozen"))))
            steps += [_order(rng, fault="") if rng.random() < 0.5 else ("trades", _prints(rng, 2))
                      for _ in range(rng.randint(1, 3))]
            steps.append(("user_stream", "live"))
        else:
            steps.append(("stall_lookups", rng.randint(1, 2)))
    return steps


def _kill_steps(rng: random.Random) -> list[Step]:
    """A few orders and trades, then SIGKILL once the last create reached the exchange (its
    answer held, sometimes: the run dies not knowing it was placed). Fills the killed run
    was never told of are the next run's to book once: the test of a fill made while no run
    was up holds that on its own."""
    steps: list[Step] = []
    for _ in range(rng.randint(1, 3)):
        steps.append(_order(rng, fault=""))
        steps.append(("trades", _prints(rng, rng.randint(1, 2))))
    steps.append(_order(rng, fault=rng.choice(("", "timeout_after_accept"))))
    steps.append(("kill", round(rng.uniform(0.0, 0.6), 2)))
    return steps


def plan(seed: int) -> list[Segment]:
    rng = random.Random(seed)
    kinds = ["clean"] * rng.randint(2, 3)
    if rng.random() < 0.6:
        kinds[rng.randrange(len(kinds) - 1)] = "kill"  # the last run stops cleanly
    return [Segment(kind, _kill_steps(rng) if kind == "kill" else _clean_steps(rng),
                    cancel_on_stop=index == len(kinds) - 1 and rng.random() < 0.5)
            for index, kind in enumerate(kinds)]


# -- driving the exchange and the strategy --------------------------------------------------------
@dataclass
class Scenario:
    seed: int
    exchange: FakeExchange
    run_dir: Path
    journal: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # every run's (status, client id)
    in_process_fills: list[str] = field(default_factory=list)  # trade ids booked by the clean runs
    counts: list[dict[str, int]] = field(default_factory=list)  # each clean run's broker counts

    @property
    def run_id(self) -> str:
        return f"chaos{self.seed}"

    def log(self, text: str) -> None:
        self.journal.append(f"{time.strftime('%H:%M:%S')} {text}")

    def booked(self) -> set[str]:
        """Trade ids in the run state (no run open)."""
        store = RunStore(self.run_dir, self.run_id)
        try:
            return {trade_id for _, trade_id in store.trade_ids()}
        finally:
            store.close()

    def do(self, step: Step, send: Any) -> None:
        """Carry out ``step``; ``send(command)`` hands a command to the running strategy."""
        exchange = self.exchange
        self.log(repr(step))
        name = step[0]
        if name == "order":
            _, side, kind, size, price, fault, times, trigger = step
            if fault:
                exchange.fail_next(fault, times)
            before = exchange.order_requests
            send((side, kind, size, price))
            self.trades(trigger)
            wait_for(lambda: exchange.order_requests > before, 10, f"the create of {step}")
        elif name == "cancel":
            send(("cancel", step[1]))
            self.trades(step[2])
        elif name == "trades":
            self.trades(step[1])
        elif name == "drop_user_stream_on_fill":
            exchange.fail_next("drop_user_stream_on_fill")
        elif name == "user_stream":
            exchange.set_user_stream(step[1])
        elif name == "stall_lookups":
            exchange.stall_requests("GET", "/api/v3/order", step[1])
        else:
            raise ValueError(f"unknown step {step!r}")

    def trades(self, prints: list[tuple[float, float]]) -> None:
        self.exchange.script_trades(SYMBOL, prints)
        self.exchange.send_trades(SYMBOL, len(prints), timeout=30)

    # -- a clean run ------------------------------------------------------------------------------
    def clean(self, segment: Segment) -> None:
        exchange = self.exchange
        before = self.booked()

        def script(run: Any) -> None:
            run.wait(lambda strategy: True, "the strategy")
            started.append(time.time() * 1000)
            for step in segment.steps:
                self.do(step, run.strategy.commands.append)
            exchange.set_user_stream("live")
            self.log("settling: every fill at the exchange booked")
            broker = run.cerebro.broker

            def unbooked() -> list[dict[str, Any]]:
                booked = before | {fill.trade_id for fill in list(broker.exchange_fills)}
                return [trade for trade in exchange.ledger()[1] if str(trade["id"]) not in booked]

            try:
                wait_for(lambda: not unbooked(), 20, "every fill at the exchange booked while the run lasts")
            except AssertionError as error:
                owners = {o["orderId"]: o for o in exchange.ledger()[0]}
                missing = [(t["id"], owners[t["orderId"]]["clientOrderId"], owners[t["orderId"]]["status"])
                           for t in unbooked()]
                raise AssertionError(f"{error}: not booked (trade id, order, its status) {missing}; "
                                     f"broker counts {broker.counts}") from None

        started: list[float] = []  # when the run was up (connected, account loaded), exchange ms
        self.log(f"run starts (cancel_on_stop={segment.cancel_on_stop})")
        strategy, broker, _ = live_run(exchange, ChaosTrader, script, run_id=self.run_id, run_dir=self.run_dir,
                                       cancel_on_stop=segment.cancel_on_stop, execution=EXECUTION)
        self.log(f"run stopped: counts {broker.counts}")
        self.notes += strategy.notes
        self.in_process_fills += [fill.trade_id for fill in broker.exchange_fills]
        self.counts.append(dict(broker.counts))
        self.check_account(broker, strategy.data, started[0])
        store = RunStore(self.run_dir, self.run_id)
        try:
            alive = {order.client_id for order in store.orders(live_only=True)}
        finally:
            store.close()
        open_there = {order["clientOrderId"] for order in exchange.open_orders()}
        assert open_there == alive, f"open at the exchange {open_there}, alive in the broker {alive}"
        if segment.cancel_on_stop:
            assert open_there == set()

    def check_account(self, broker: Any, data: Any, started_ms: float) -> None:
        """The position and cash the stopped run reports are the account's (a run resumed after
        a kill included: the fills its killed process never booked are booked once)."""
        exchange = self.exchange
        base = exchange.balances.get("BTC", 0.0) + exchange.locked.get("BTC", 0.0)
        quote = exchange.balances["USDT"] + exchange.locked.get("USDT", 0.0)
        position, cash = broker.getposition(data).size, broker.getcash()
        assert (position, cash) == pytest.approx((base, quote), abs=1e-6), "position and cash: broker vs exchange"

    # -- a run killed with SIGKILL ------------------------------------------------------------------
    def killed(self, segment: Segment) -> None:
        exchange = self.exchange
        spec = {"market_config": exchange.ccxt_config(), "broker_config": broker_config(exchange),
                "run_id": self.run_id, "run_dir": str(self.run_dir), "execution": EXECUTION}
        self.log("child run starts")
        with open(self.run_dir.parent / f"child-{len(self.journal)}.log", "w") as errors:
            child = subprocess.Popen([sys.executable, "-m", "tests.broker.live.chaos", json.dumps(spec)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
            lines: list[tuple[str, str]] = []

            def read() -> None:
                for line in child.stdout:
                    if line.startswith(NOTE):
                        lines.append(tuple(json.loads(line[len(NOTE):])))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            try:
                exchange.wait_user_connections(1, timeout=60)
                exchange.wait_subscriptions(exchange.trade_stream(SYMBOL), 1, timeout=60)

                def send(command: tuple[Any, ...]) -> None:
                    queued = lines.count(QUEUED) + 1
                    child.stdin.write(json.dumps(command) + "\n")
                    child.stdin.flush()
                    wait_for(lambda: lines.count(QUEUED) >= queued, 10, f"the child to queue {command}")

                for step in segment.steps:
                    if step[0] == "kill":
                        self.log(repr(step))
                        time.sleep(step[1])
                        child.send_signal(signal.SIGKILL)
                    else:
                        self.do(step, send)
            finally:
                child.kill()
                child.wait(30)
                reader.join(10)
                child.stdin.close()
                child.stdout.close()
        notes = [line for line in lines if line != QUEUED]
        self.log(f"child killed (exit {child.returncode}); it was told {notes}")
        assert child.returncode == -signal.SIGKILL
        self.notes += notes


# -- what the chaos found, each as its smallest scenario ------------------------------------------------
class BuyOnFirstTick(Recorder):
    def on_first_tick(self) -> None:
        self.orders.append(self.buy(size=0.1))


class BidOnFirstTick(Recorder):
    def on_first_tick(self) -> None:
        self.orders.append(self.buy(size=0.1, price=49_000.0, exectype=bt.Order.Limit))


def test_a_fill_reported_while_the_run_stops_is_booked_by_the_stop(exchange):
    """Reports that reached the run's queue after it stopped consuming it were lost, and the
    client had marked them seen: the stop's reconciliation dropped the fill as a repeat and
    moved the watermark past it, so no run ever booked it (position 0 here, 0.1 there)."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_010.0, 1.0)])
    exchange.fail_next("timeout_after_accept")  # the stop waits for the create's answer...
    exchange.stall_requests("GET", "/api/v3/order")  # ...and for its look-up, while the order fills

    def fill_during_the_stop() -> None:
        wait_for(lambda: ("GET", "/api/v3/order") in exchange.held, 10, "the look-up, during the stop")
        exchange.send_trades(SYMBOL, 1, wait=False)

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "the stream's word on the order")
        threading.Thread(target=fill_during_the_stop, daemon=True).start()

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script)
    _, trades = exchange.ledger()
    assert [(t["price"], t["qty"]) for t in trades] == [("50010.00000000", "0.10000000")]
    assert [fill.trade_id for fill in broker.exchange_fills] == [str(trades[0]["id"])]
    assert strategy.statuses() == ["Submitted", "Accepted", "Completed"]
    assert broker.getposition(strategy.data).size == pytest.approx(0.1)
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])
    store = RunStore(run_dir_of(exchange) / "t1", "t1")
    assert [fill.trade_id for fill in store.fills()] == [str(trades[0]["id"])]
    assert [order.state for order in store.orders()] == [OrderState.FILLED]
    store.close()


def test_a_create_never_placed_is_rejected_by_the_stop_not_left_unknown(exchange):
    """The same loss at stop: the look-ups' verdict (the exchange has no such order) went to
    the stopped queue, and the stop's own look-ups repeated it unheard, so the run state kept
    an unknown order the exchange never had and the strategy was never told."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1)])
    exchange.fail_next("timeout_before_accept")

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        wait_for(lambda: ("POST", "/api/v3/order") in exchange.held, 10, "the create, held")

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script, cancel_on_stop=False)
    assert exchange.ledger() == ([], [])
    assert strategy.statuses() == ["Submitted", "Rejected"]
    assert strategy.orders[0].info.reason == "not placed: the exchange has no order t1x1 (looked up 2 s apart)"
    store = RunStore(run_dir_of(exchange) / "t1", "t1")
    assert [order.state for order in store.orders()] == [OrderState.REJECTED]
    store.close()


def test_a_fill_a_silent_stream_lost_is_booked_once_a_later_report_shows_the_gap(exchange):
    """The stream went silent over one fill of an order and came back for the rest: its last
    report said FILLED 0.1 with 0.06 booked, the client took the order for done, so the
    supervisor (which checks only while orders are live) never looked, and the strategy
    sat on a Partial until the run stopped."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (50_010.0, 0.04), (50_020.0, 1.0)])

    def script(run):
        exchange.send_trades(SYMBOL, 1)
        run.wait(saw("Accepted"), "the buy accepted")
        exchange.set_user_stream("silent")
        exchange.send_trades(SYMBOL, 1)  # 0.04 filled, its report lost
        exchange.set_user_stream("live")
        exchange.send_trades(SYMBOL, 1)  # the other 0.06: reported FILLED, 0.1 executed
        run.wait(saw("Completed"), "the lost fill booked from the trade list", timeout=10)

    strategy, broker, _ = live_run(exchange, BuyOnFirstTick, script, execution={"quiet_after": 1.0})
    _, trades = exchange.ledger()
    assert [(fill.trade_id, fill.amount, fill.source) for fill in broker.exchange_fills] == [
        (str(trades[1]["id"]), 0.06, "stream"), (str(trades[0]["id"]), 0.04, "reconcile")]
    assert strategy.statuses() == ["Submitted", "Accepted", "Partial", "Completed"]
    assert broker.getposition(strategy.data).size == pytest.approx(0.1)


def test_a_fill_made_while_no_run_was_up_is_counted_once_in_the_position_and_cash(exchange):
    """The account already holds the fills a run's earlier process never booked (made while it
    was down, or reported as it was killed); a resumed run that started from the account and
    then booked those fills from the trade list held 0.2 BTC here (paid twice). It starts from
    its own books instead."""
    exchange.script_trades(SYMBOL, [(50_000.0, 0.1), (48_990.0, 1.0)])
    first = trades_then(exchange, SYMBOL, (1, "the bid accepted", saw("Accepted")))
    live_run(exchange, BidOnFirstTick, first, cancel_on_stop=False)
    exchange.send_trades(SYMBOL, 1, wait=False)  # the bid fills while no run is up
    assert exchange.balances["BTC"] == pytest.approx(0.1)

    def second(run):
        wait_for(lambda: run.cerebro.broker.counts["completed"] == 1, 10, "the resumed bid's fill booked")

    strategy, broker, _ = live_run(exchange, Recorder, second)
    assert [fill.amount for fill in broker.exchange_fills] == [0.1]
    assert broker.getposition(strategy.data).size == pytest.approx(0.1)
    assert broker.getcash() == pytest.approx(exchange.balances["USDT"])


# -- the test -----------------------------------------------------------------------------------
@pytest.fixture
def chaos_exchange():
    with FakeExchange([SYMBOL], balances=START) as server:
        server.stall_seconds = STALL
        yield server


@pytest.mark.slow
# under load, about 1 run in 5 of seed 35 (two stream drops and a kill) ends with ccxt having
# rejected one of its own futures at an abnormal close (code 1006) that nothing awaited; every
# assertion of the scenario holds, and the feeds mark the futures they abandon read
@pytest.mark.asyncio_tolerated("Future exception was never retrieved")
@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_leaves_the_exchange_and_backtrader_agreeing(chaos_exchange, tmp_path, seed):
    scenario = Scenario(seed, chaos_exchange, tmp_path / "runs")
    try:
        for segment in plan(seed):
            (scenario.clean if segment.kind == "clean" else scenario.killed)(segment)
        check_ledgers(scenario)
    except BaseException as error:
        actions = "\n".join(scenario.journal)
        raise AssertionError(f"chaos seed {seed} failed: {type(error).__name__}: {error}\n"
                             f"actions:\n{actions}") from error


def check_ledgers(scenario: Scenario) -> None:
    exchange = scenario.exchange
    orders, trades = exchange.ledger()
    store = RunStore(scenario.run_dir, scenario.run_id)
    try:
        booked, states = store.fills(), {order.client_id: order for order in store.orders()}
    finally:
        store.close()
    # every fill at the exchange booked exactly once, as the exchange made it
    assert sorted(fill.trade_id for fill in booked) == sorted(str(trade["id"]) for trade in trades)
    assert len(scenario.in_process_fills) == len(set(scenario.in_process_fills)), "a fill booked twice"
    assert set(scenario.in_process_fills) <= {fill.trade_id for fill in booked}
    by_id = {str(trade["id"]): trade for trade in trades}
    for fill in booked:
        trade = by_id[fill.trade_id]
        assert (fill.price, fill.amount, fill.fee) == pytest.approx(
            (float(trade["price"]), float(trade["qty"]), float(trade["commission"]))), fill
        assert fill.side == ("buy" if trade["isBuyer"] else "sell")
    assert all(counts["foreign"] == 0 and counts["late_reports"] == 0 for counts in scenario.counts), scenario.counts
    # the account's position and cash as the booked fills add up (each run's broker: check_account)
    base = exchange.balances.get("BTC", 0.0) + exchange.locked.get("BTC", 0.0)
    quote = exchange.balances["USDT"] + exchange.locked.get("USDT", 0.0)
    bought = [fill for fill in booked if fill.side == "buy"]
    sold = [fill for fill in booked if fill.side == "sell"]
    assert START["BTC"] + sum(f.amount for f in bought) - sum(f.amount for f in sold) == pytest.approx(base, abs=1e-9)
    assert START["USDT"] - sum(f.amount * f.price + f.fee for f in bought) + sum(
        f.amount * f.price - f.fee for f in sold) == pytest.approx(quote, abs=1e-6)
    # no client id reused
    client_ids = [order["clientOrderId"] for order in orders]
    assert len(client_ids) == len(set(client_ids)), f"client ids reused: {client_ids}"
    # no order notified Accepted (or filled) that the exchange lacks, none Rejected that it has
    told = {status: {cid for s, cid in scenario.notes if s == status} for status in ("Accepted", "Partial",
                                                                                      "Completed", "Rejected")}
    assert told["Accepted"] | told["Partial"] | told["Completed"] <= set(client_ids)
    assert not told["Rejected"] & set(client_ids)
    # every order at the exchange is the broker's, in the exchange's state
    for order in orders:
        live = states.get(order["clientOrderId"])
        assert live is not None, f"order {order['clientOrderId']} at the exchange is not in the run state"
        assert live.state in STATE_OF[order["status"]], (order["clientOrderId"], order["status"], live.state)
        assert live.exchange_id == str(order["orderId"])
        assert live.booked == pytest.approx(float(order["executedQty"]), abs=1e-9)
    for client_id, live in states.items():
        if client_id not in set(client_ids):
            assert live.state is OrderState.REJECTED, f"{client_id} is {live.state.value}, the exchange has none"


def test_the_seeds_cover_every_fault_restart_and_stop():
    """The fixed seeds exercise everything the chaos test claims to."""
    steps = [step for seed in SEEDS for segment in plan(seed) for step in segment.steps]
    segments = [segment for seed in SEEDS for segment in plan(seed)]
    faults = {step[5] for step in steps if step[0] == "order"}
    assert {"timeout_after_accept", "timeout_before_accept", "rate_limit"} <= faults
    names = {step[0] for step in steps}
    assert {"cancel", "drop_user_stream_on_fill", "stall_lookups", "kill"} <= names
    assert {step[1] for step in steps if step[0] == "user_stream"} == {"silent", "frozen", "live"}
    assert {(step[1], step[2]) for step in steps if step[0] == "order"} == {
        ("buy", "market"), ("buy", "limit"), ("sell", "market"), ("sell", "limit")}
    assert sum(segment.kind == "kill" for segment in segments) >= 3
    assert sum(1 for seed in SEEDS if plan(seed)[-2].kind == "clean") >= 3  # clean stops then resumes
    assert {segments[-1].cancel_on_stop for segments in map(plan, SEEDS)} == {True, False}
