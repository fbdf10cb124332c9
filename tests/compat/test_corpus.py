"""backtrader's samples as a corpus: each strategy runs on tick data through
``cerebro.resampledata(channel, ...)`` and, side by side, in plain backtrader on the same bars.

What must hold (docs/tick-backtests.md, "Bring your bar strategy"): the signals and the
orders created (their bar times) are identical; market orders fill at the first trade at
or after the bar's close, which with a trade in every minute is plain backtrader's next
open; limit and stop orders fill on the trades after the close by the fill rules
(docs/fills.md), which the oracles below apply to the trades themselves.
"""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import pytest

from .harness import Trades, fills_by_ref, generate, market_fills, minute_bars_csv, run_both
from .strategies import (
    AnalyzedCross,
    BracketCross,
    MultiDataCross,
    OcoCross,
    SignalSmaCross,
    SizedCross,
    SmaCross,
    TimedTrader,
    analyzed,
    observed,
    percent_sized,
)


def seconds_of(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def first_trade_at_or_after(trades: Trades, moment: dt.datetime) -> tuple[dt.datetime, float]:
    """The first trade at or after a bar close: where a market order sent there fills."""
    i = trades.after(seconds_of(moment))[0]
    return dt.datetime.utcfromtimestamp(trades.ts_ns[i] / 1e9), float(trades.price[i])


def resting_fill(trades: Trades, since: float, strictly: bool, side: str, kind: str, price: float
                 ) -> tuple[float, float] | None:
    """Where a resting order fills by docs/fills.md, from the trades at (or after) ``since``
    (epoch seconds): (trade time in epoch milliseconds, fill price). Buy limit L: at L on the first trade below L; sell limit: above;
    sell stop S: on the first trade at or below S, at that trade's price."""
    for i in trades.after(since, strictly):
        traded = float(trades.price[i])
        when = int(trades.ts_ns[i]) // 1_000_000
        if kind == "Limit" and (traded < price if side == "Buy" else traded > price):
            return when, price
        if kind == "Stop" and (traded >= price if side == "Buy" else traded <= price):
            return when, traded
    return None


@pytest.fixture(scope="module")
def btc(tmp_path_factory) -> Trades:
    """Four hours of trades, at least one in every minute."""
    return generate(tmp_path_factory.mktemp("btc"), seed=7)


def assert_same_orders_and_market_fills(runs, at_least: int = 4) -> None:
    assert runs.ticks.crosses == runs.plain.crosses
    assert len(runs.ticks.made) >= at_least
    assert runs.ticks.made == runs.plain.made
    assert market_fills(runs.ticks.filled) == market_fills(runs.plain.filled)


def test_sma_cross_market_orders_fill_at_plain_backtraders_next_open(tmp_path, btc):
    runs = run_both(tmp_path, SmaCross, [btc])
    assert_same_orders_and_market_fills(runs)
    for created, fill in zip(runs.ticks.made, runs.ticks.filled):  # and at the first trade after each close
        assert (fill[4], fill[2]) == first_trade_at_or_after(btc, created[0])


def test_signal_strategy_trades_every_crossover(tmp_path, btc):
    runs = run_both(tmp_path, SignalSmaCross, [btc])
    assert_same_orders_and_market_fills(runs)


def test_multidata_signals_on_the_second_data_trade_the_first(tmp_path, btc):
    eth = generate(tmp_path, seed=8, symbol="ETH/USDT", start=30.0)
    runs = run_both(tmp_path, MultiDataCross, [btc, eth])
    assert_same_orders_and_market_fills(runs)
    assert runs.tick_cerebro.broker.getposition(runs.tick_cerebro.datas[0]).size == \
        runs.plain_cerebro.broker.getposition(runs.plain_cerebro.datas[0]).size
    assert {fill[0] for fill in runs.ticks.filled}  # orders traded BTC, the first data
    assert runs.tick_cerebro.tick_result.fills and all(
        fill.symbol == "BTC/USDT" for fill in runs.tick_cerebro.broker.fills)


def test_analyzers_agree_when_fills_agree(tmp_path, btc):
    runs = run_both(tmp_path, AnalyzedCross, [btc], setup=analyzed)
    assert_same_orders_and_market_fills(runs)
    ticks, plain = runs.ticks.analyzers, runs.plain.analyzers
    assert ticks.trades.get_analysis().total.closed == plain.trades.get_analysis().total.closed >= 2
    assert ticks.trades.get_analysis().pnl.net.total == pytest.approx(plain.trades.get_analysis().pnl.net.total)
    assert ticks.sqn.get_analysis().sqn == pytest.approx(plain.sqn.get_analysis().sqn)
    assert ticks.drawdown.get_analysis().max.drawdown == pytest.approx(plain.drawdown.get_analysis().max.drawdown)
    assert ticks.sharpe.get_analysis()["sharperatio"] == pytest.approx(plain.sharpe.get_analysis()["sharperatio"])


def test_observers_draw_the_same_value_and_buy_sell_marks(tmp_path, btc):
    runs = run_both(tmp_path, SmaCross, [btc], setup=observed, stdstats=True)
    assert_same_orders_and_market_fills(runs)

    def lines(strategy, observer, line):
        return list(getattr(observer.lines, line).get(size=len(strategy)))  # plain runs preallocate

    def only(strategy, kind):
        (observer,) = [o for o in strategy.observers if isinstance(o, kind)]
        return observer

    for kind, line in ((bt.observers.Broker, "value"), (bt.observers.DrawDown, "drawdown")):
        ticks, plain = (lines(s, only(s, kind), line) for s in (runs.ticks, runs.plain))
        assert len(ticks) == 240
        assert ticks == pytest.approx(plain)
    for line in ("buy", "sell"):  # marked on the bar of the fill, at the fill price
        ticks, plain = (lines(s, s.stats.buysell[0], line) for s in (runs.ticks, runs.plain))
        assert sum(value == value for value in ticks) >= 2
        assert ticks == pytest.approx(plain, nan_ok=True)


def test_bracket_orders_fill_on_the_trades_after_the_close_by_the_fill_rules(tmp_path, btc):
    runs = run_both(tmp_path, BracketCross, [btc])
    ticks = runs.ticks
    assert ticks.crosses == runs.plain.crosses
    assert ticks.made[:3] == runs.plain.made[:3]  # the first bracket: the same bar, the same prices
    fills = fills_by_ref(ticks)
    brackets = [(ticks.made[k:k + 3], ticks.made_refs[k:k + 3]) for k in range(0, len(ticks.made), 3)]
    assert len(brackets) >= 3
    exits = 0
    for (entry, stop, take), (entry_ref, stop_ref, take_ref) in brackets:
        assert [order[1:3] for order in (entry, stop, take)] == [("Buy", "Limit"), ("Sell", "Stop"), ("Sell", "Limit")]
        # the entry rests from the close on: it fills at its price on the first trade below it
        expected = resting_fill(btc, seconds_of(entry[0]), False, "Buy", "Limit", entry[4])
        assert (fills[entry_ref][:2] if entry_ref in fills else None) == expected
        if expected is None:
            continue
        # then the children: the first to trigger on the trades after the entry's fills, the other is cancelled
        stop_fill = resting_fill(btc, expected[0] / 1000, True, "Sell", "Stop", stop[4])
        take_fill = resting_fill(btc, expected[0] / 1000, True, "Sell", "Limit", take[4])
        first = min((fill for fill in (stop_fill, take_fill) if fill is not None), default=None)
        filled = [fills[ref][:2] for ref in (stop_ref, take_ref) if ref in fills]
        assert filled == ([] if first is None else [first])
        exits += bool(filled)
    assert exits >= 2


def test_oco_buy_limits_first_fill_cancels_the_others(tmp_path, btc):
    runs = run_both(tmp_path, OcoCross, [btc])
    ticks = runs.ticks
    assert ticks.crosses == runs.plain.crosses
    assert ticks.made[:3] == runs.plain.made[:3]
    fills = fills_by_ref(ticks)
    groups = [k for k, order in enumerate(ticks.made) if order[1:3] == ("Buy", "Limit")][::3]
    assert len(groups) >= 3
    for k in groups:
        orders, refs = ticks.made[k:k + 3], ticks.made_refs[k:k + 3]
        # the earliest to fill wins (on one trade, the first in the group); the others are cancelled
        candidates = [(fill, i) for i, order in enumerate(orders)
                      for fill in [resting_fill(btc, seconds_of(order[0]), False, "Buy", "Limit", order[4])]
                      if fill is not None]
        filled = [(fills[ref][:2], i) for i, ref in enumerate(refs) if ref in fills]
        assert filled == ([min(candidates)] if candidates else [])
    for order, ref in zip(ticks.made, ticks.made_refs):
        if order[2] == "Market":  # the close after the hold: at the first trade at or after that close
            fill = fills[ref]
            assert (dt.datetime.utcfromtimestamp(fill[0] / 1000), fill[1]) == first_trade_at_or_after(btc, order[0])


def test_percent_sizer_stakes_are_equal(tmp_path, btc):
    runs = run_both(tmp_path, SizedCross, [btc], setup=percent_sized)
    assert_same_orders_and_market_fills(runs)
    first = runs.ticks.made[0]
    close = float(btc.price[btc.after(seconds_of(first[0]))[0] - 1])  # the last trade before the bar's end
    assert first[3] == pytest.approx(0.2 * 100_000.0 / close)  # 20% of the starting cash at the close


def test_writer_writes_one_row_per_bar(tmp_path, btc):
    paths = iter([tmp_path / "ticks.csv", tmp_path / "plain.csv"])

    def write(cerebro):
        cerebro.addwriter(bt.WriterFile, csv=True, out=str(next(paths)), rounding=6)

    run_both(tmp_path, SmaCross, [btc], setup=write)
    ticks, plain = ((tmp_path / name).read_text().splitlines() for name in ("ticks.csv", "plain.csv"))
    rows, plain_rows = ([line.split(",") for line in lines if line[:1].isdigit()] for lines in (ticks, plain))
    assert len(rows) == 240  # one per 1-minute bar
    volume = rows[0].index("23.405")  # the first bar's; sums of floats may differ in the last digit
    assert [row[:volume] + row[volume + 1:] for row in rows] == [row[:volume] + row[volume + 1:] for row in plain_rows]
    assert [float(row[volume]) for row in rows] == pytest.approx([float(row[volume]) for row in plain_rows])


def test_timers_fire_at_the_same_bar_times(tmp_path, btc):
    runs = run_both(tmp_path, TimedTrader, [btc])
    assert runs.ticks.fired == runs.plain.fired
    assert len(runs.ticks.fired) == 5  # 00:30, 01:15, 02:00, 02:45, 03:30
    assert_same_orders_and_market_fills(runs)


@pytest.mark.parametrize("fill_gaps", [False, True])
def test_gaps_market_orders_fill_at_the_real_next_trade(tmp_path, fill_gaps):
    gaps = [m for m in range(240) if m % 5 == 3]  # every fifth minute has no trade
    trades = generate(tmp_path, seed=21, gaps=gaps)
    runs = run_both(tmp_path, SmaCross, [trades], fill_gaps=fill_gaps)
    assert runs.ticks.crosses == runs.plain.crosses
    assert runs.ticks.made == runs.plain.made
    opens = {line.split(",")[0]: float(line.split(",")[1])
             for line in minute_bars_csv(trades, tmp_path / "check.csv", fill_gaps).read_text().splitlines()[1:]}
    differ = 0
    for created, tick_fill, plain_fill in zip(runs.ticks.made, runs.ticks.filled, runs.plain.filled, strict=True):
        assert (tick_fill[4], tick_fill[2]) == first_trade_at_or_after(trades, created[0])
        next_bar = (created[0] + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
        if next_bar in opens:  # plain backtrader fills at the next bar's open...
            assert plain_fill[2] == opens[next_bar]
        differ += tick_fill[2] != plain_fill[2]
    if fill_gaps:  # ...which after a gap is a flat bar at the last close, a price nobody traded
        assert differ >= 1
    else:  # without filled gaps the next bar is the next one that traded: its open is the next trade
        assert differ == 0
