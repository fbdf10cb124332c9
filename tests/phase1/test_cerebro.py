"""Cerebro integration: add_channel, RunMode, strategies' channels, ordering, stop."""

from __future__ import annotations

import backtrader as bt
import pytest

import backtrader_channels as bc
from backtrader_channels.cerebro import install
from tests.conftest import T0, Scripted, write_trades_csv


def test_add_channel_returns_the_channel_and_registers_it_by_type_and_symbol(tmp_path):
    cerebro = bt.Cerebro()
    path = write_trades_csv(tmp_path / "t.csv", [(T0, 1.0, 1.0, "buy")])
    channel = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    assert isinstance(channel, bc.TickChannel) and channel.symbol == "BTC/USDT" and channel.source is not None
    assert isinstance(cerebro.broker, bc.TickBroker)
    with pytest.raises(ValueError, match="already added"):
        cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    with pytest.raises(TypeError, match="Channel class"):
        cerebro.add_channel(bt.feeds.PandasData, symbol="BTC/USDT")


def test_installing_twice_is_harmless():
    run, add = bt.Cerebro.run, bt.Cerebro.add_channel
    install()
    install()
    assert (bt.Cerebro.run, bt.Cerebro.add_channel) == (run, add)
    assert bt.RunMode.TICK == "tick" and bt.RunMode.BAR == "bar"


def test_tick_mode_without_channels_says_what_to_do():
    cerebro = bt.Cerebro()
    cerebro.addstrategy(bt.Strategy)
    with pytest.raises(ValueError, match="add_channel"):
        cerebro.run(mode=bt.RunMode.TICK)


def test_several_symbols_merge_in_time_order_across_chunk_boundaries(tmp_path):
    btc = write_trades_csv(tmp_path / "btc.csv", [(T0 + t, 100.0 + t, 1, "buy") for t in (0, 2, 2, 5, 7, 9)])
    eth = write_trades_csv(tmp_path / "eth.csv", [(T0 + t, 10.0 + t, 1, "sell") for t in (1, 2, 3, 7, 8)])
    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=btc, chunk_rows=2)
    cerebro.add_channel(bc.TickChannel, symbol="ETH/USDT", dataname=eth, chunk_rows=2)
    cerebro.addstrategy(Scripted)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    # by time; at equal times in the order the channels were added, each file's own order kept
    assert [(ts - T0, symbol) for _, ts, _, symbol in strategy.seen] == [
        (0, "BTC/USDT"), (1, "ETH/USDT"), (2, "BTC/USDT"), (2, "BTC/USDT"), (2, "ETH/USDT"), (3, "ETH/USDT"),
        (5, "BTC/USDT"), (7, "BTC/USDT"), (7, "ETH/USDT"), (8, "ETH/USDT"), (9, "BTC/USDT"),
    ]
    assert cerebro.tick_result.events == 11


def test_strategy_sees_its_channels_in_init_and_trades_a_named_channel(tmp_path):
    btc = write_trades_csv(tmp_path / "btc.csv", [(T0 + t, 100.0, 1, "buy") for t in range(3)])
    eth = write_trades_csv(tmp_path / "eth.csv", [(T0 + t + 0.5, 10.0 + t, 1, "buy") for t in range(3)])

    class TwoSymbols(bt.Strategy):
        def __init__(self):
            self.eth = self._channels[("tick", "ETH/USDT")]
            assert self.channels is self._channels
            self.done = False
            self.statuses = []

        def notify_tick(self, tick):
            if not self.done:
                self.done = True
                self.order = self.buy(data=self.eth, size=2.0)

        def notify_order(self, order):
            self.statuses.append(order.getstatusname())

    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=btc)
    cerebro.add_channel(bc.TickChannel, symbol="ETH/USDT", dataname=eth)
    cerebro.addstrategy(TwoSymbols)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert strategy.order.executed.price == 10.0  # the first ETH trade after the BTC tick it was sent on
    # no ETH price yet when it was sent: no cash check then, but the usual notifications
    assert strategy.statuses == ["Submitted", "Accepted", "Completed"]
    assert strategy.getposition(strategy.eth).size == 2.0
    assert strategy.getposition(strategy.datas[0]).size == 0  # BTC/USDT untouched
    assert [d._name for d in strategy.datas] == ["BTC/USDT", "ETH/USDT"]


def test_default_order_trades_the_first_channel(run_ticks):
    strategy, _ = run_ticks([(T0, 100.0, 1, "buy"), (T0 + 1, 101.0, 1, "buy")], actions={1: lambda s: s.buy(size=1.0)})
    assert strategy.position.size == 1.0 and strategy.position.price == 101.0


def test_runstop_stops_the_run(run_ticks):
    trades = [(T0 + t, 100.0, 1, "buy") for t in range(10)]
    strategy, cerebro = run_ticks(trades, actions={4: lambda s: s.env.runstop()})
    assert strategy.n == 4 and cerebro.tick_result.events == 4


def test_event_time_and_datetime_follow_the_events(tmp_path):
    path = write_trades_csv(tmp_path / "t.csv", [(T0 + 0.25, 1.0, 1, "buy"), (T0 + 1.5, 1.0, 1, "sell")])
    stamps = []

    class Clocked(bt.Strategy):
        def notify_tick(self, tick):
            stamps.append((self.event_time, self.event_datetime.isoformat(), tick.timestamp))

    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    cerebro.addstrategy(Clocked)
    cerebro.run(mode=bt.RunMode.TICK)
    assert stamps == [(T0 + 0.25, "2025-01-01T00:00:00.250000+00:00", T0 + 0.25),
                      (T0 + 1.5, "2025-01-01T00:00:01.500000+00:00", T0 + 1.5)]


def test_next_runs_once_after_each_event(run_ticks, tmp_path):
    calls = []

    class Both(bt.Strategy):
        def notify_tick(self, tick):
            calls.append(("tick", tick.price))

        def next(self):
            calls.append(("next", self.channels[("tick", "BTC/USDT")].latest.price))

    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT",
                        dataname=write_trades_csv(tmp_path / "t.csv", [(T0, 1.0, 1, "buy"), (T0 + 1, 2.0, 1, "buy")]))
    cerebro.addstrategy(Both)
    cerebro.run(mode=bt.RunMode.TICK)
    assert calls == [("tick", 1.0), ("next", 1.0), ("tick", 2.0), ("next", 2.0)]


def test_result_carries_equity_curve_and_drawdown(run_ticks):
    trades = [(T0 + t, price, 1, "buy") for t, price in enumerate([100.0, 100.0, 120.0, 90.0, 110.0])]
    _, cerebro = run_ticks(trades, actions={1: lambda s: s.buy(size=1.0)}, cash=1_000.0)
    result = cerebro.tick_result
    assert list(result.equity_values) == [1_000.0, 1_000.0, 1_020.0, 990.0, 1_010.0]
    assert list(result.equity_times - T0) == [0, 1, 2, 3, 4]
    assert result.max_drawdown == pytest.approx(30.0 / 1_020.0)
    assert result.max_drawdown_money == pytest.approx(30.0)
    assert "max drawdown" in result.summary()


def test_same_inputs_same_calls_orders_and_fills(run_ticks):
    trades = [(T0 + t * 0.1, 100.0 + (t % 7) - (t % 3), 1, "buy") for t in range(200)]
    actions = {n: (lambda s: s.buy(size=1.0)) if n % 20 == 0 else (lambda s: s.close()) for n in range(10, 200, 10)}
    first, _ = run_ticks(trades, actions=actions)
    second, _ = run_ticks(trades, actions=actions)
    assert first.seen == second.seen and first.orders == second.orders and len(first.orders) > 10


def test_optimisation_runs_each_parameter_set_from_a_fresh_start(tmp_path):
    path = write_trades_csv(tmp_path / "t.csv", [(T0 + t, 100.0 + t, 1, "buy") for t in range(10)])

    class Sized(bt.Strategy):
        params = (("size", 1.0),)

        def notify_tick(self, tick):
            self.seen = len(self.channels[("tick", "BTC/USDT")])
            if self.seen == 1:
                self.buy(size=self.p.size)

    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    cerebro.optstrategy(Sized, size=[1.0, 2.0, 3.0])
    runs = [strategies[0] for strategies in cerebro.run(mode=bt.RunMode.TICK, maxcpus=1)]  # strategies, not OptReturns
    assert [run.seen for run in runs] == [10, 10, 10]
    assert [[(f.size, f.price) for f in run.tick_result.fills] for run in runs] == [[(1.0, 101.0)], [(2.0, 101.0)], [(3.0, 101.0)]]
    assert [run.tick_result.end_value for run in runs] == [10_000 + 8.0 * k for k in (1, 2, 3)]  # bt default cash


def test_bar_feeds_must_be_preloaded_in_tick_mode(tmp_path):
    from tests.conftest import bar_feed, write_minute_bars

    cerebro = bt.Cerebro()
    cerebro.adddata(bar_feed(write_minute_bars(tmp_path / "bars.csv", [1.0, 2.0])))
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", [(T0, 1.0, 1, "buy")]))
    with pytest.raises(ValueError, match="preload"):
        cerebro.run(mode=bt.RunMode.TICK, preload=False)


def test_standard_observers_follow_the_notification_steps_of_tick_only_runs(run_ticks):
    trades = [(T0 + t, 100.0 + t, 1, "buy") for t in range(6)]
    strategy, cerebro = run_ticks(trades, actions={1: lambda s: s.buy(size=1.0), 3: lambda s: s.close()})
    assert strategy.stats.broker.lines.value.array  # stepped, so a plot has something to draw
    assert strategy.stats.broker.lines.value[0] == pytest.approx(cerebro.broker.getvalue())


def test_bad_rows_skipped_on_request_are_counted_and_reported_after_the_run(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,price,volume,direction\n"
                    f"{T0},100,1,buy\n{T0 + 1},abc,1,buy\n{T0 + 2},101,1,sideways\n{T0 + 3},102,1,sell\n")
    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path, on_error="skip")
    cerebro.addstrategy(Scripted)
    with caplog.at_level("WARNING", logger="backtrader_channels"):
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert [price for _, _, price, _ in strategy.seen] == [100.0, 102.0]
    assert cerebro.tick_result.skipped_rows == {"tick BTC/USDT": 2}
    assert "skipped rows tick BTC/USDT  2" in cerebro.tick_result.summary()
    assert "tick BTC/USDT: skipped 2 bad rows" in caplog.text


def test_missing_file_fails_at_add_channel_with_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-day.zip"):
        bt.Cerebro().add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=tmp_path / "no-such-day.zip")


def test_a_bar_run_after_a_tick_run_matches_on_bars_again(tmp_path):
    from tests.conftest import bar_feed, write_minute_bars

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bar_feed(write_minute_bars(tmp_path / "bars.csv", [100.0, 101.0, 102.0, 103.0])))
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT",
                        dataname=write_trades_csv(tmp_path / "t.csv", [(T0 + 30, 100.0, 1, "buy")]))

    class BuyFirstBar(bt.Strategy):
        def next(self):
            if len(self.data) == 1:
                self.buy(size=1.0)

    cerebro.addstrategy(BuyFirstBar)
    cerebro.run(mode=bt.RunMode.TICK)
    (strategy,) = cerebro.run()  # bar mode: backtrader fills at the next bar's open
    assert strategy.position.size == 1.0 and strategy.position.price == 101.0  # the second bar opens at 101
