"""ChannelBridge: backtrader indicators on channel data, checked against numpy/pandas."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from backtrader_channels import ChannelBridge, OrderBookChannel, TickChannel, TickEvent
from tests.conftest import T0, write_book_jsonl, write_trades_csv


def test_channel_bridge_basic():  # the seed's test, imports adapted
    channel = TickChannel("BTC/USDT")
    bridge = ChannelBridge(channel=channel, field="price")
    channel.push(TickEvent(timestamp=100.0, price=50000, volume=1.0, direction="buy"))
    bridge._load()
    assert bridge.lines.value[0] == 50000


@pytest.fixture
def prices():
    rng = np.random.default_rng(11)
    return np.round(50_000 + np.cumsum(rng.normal(0, 5, 3_000)), 2)


@pytest.fixture
def trades_file(tmp_path, prices):
    return write_trades_csv(tmp_path / "t.csv", [(T0 + i * 0.01, p, 0.1, "buy") for i, p in enumerate(prices)])


def run_with(trades_file, strategy):
    cerebro = bt.Cerebro()
    cerebro.add_channel(TickChannel, symbol="BTC/USDT", dataname=trades_file)
    cerebro.addstrategy(strategy)
    (result,) = cerebro.run(mode=bt.RunMode.TICK)
    return result


def test_bridge_with_indicator(trades_file, prices):  # the seed's second test, completed
    class BridgeTestStrategy(bt.Strategy):
        def __init__(self):
            self.bridge = ChannelBridge(channel=self._channels[("tick", "BTC/USDT")], field="price")
            self.sma = bt.indicators.SMA(self.bridge, period=5)
            self.values = []

        def notify_tick(self, tick):
            self.values.append((self.bridge[0], self.sma[0]))

    strategy = run_with(trades_file, BridgeTestStrategy)
    bridged, sma = np.array(strategy.values).T
    assert np.array_equal(bridged, prices)  # the indicator sees this tick when notify_tick runs
    expected = pd.Series(prices).rolling(5).mean().to_numpy()
    assert np.isnan(sma[:4]).all()
    np.testing.assert_allclose(sma[4:], expected[4:], rtol=0, atol=1e-6)


def ema(values, period):
    out = np.full(len(values), np.nan)
    out[period - 1] = values[:period].mean()
    alpha = 2.0 / (period + 1)
    for i in range(period, len(values)):
        out[i] = out[i - 1] * (1 - alpha) + values[i] * alpha
    return out


def wilder_rsi(values, period):
    diff = np.diff(values)
    up, down = np.maximum(diff, 0), np.maximum(-diff, 0)
    out = np.full(len(values), np.nan)
    avg_up, avg_down = up[:period].mean(), down[:period].mean()
    for i in range(period, len(values)):
        if i > period:
            avg_up = (avg_up * (period - 1) + up[i - 1]) / period
            avg_down = (avg_down * (period - 1) + down[i - 1]) / period
        out[i] = 100.0 if avg_down == 0 else 100.0 - 100.0 / (1.0 + avg_up / avg_down)
    return out


def crossings(fast, slow):
    diff = fast - slow
    out = np.zeros(len(diff))
    last = np.nan
    for i, d in enumerate(diff):
        if np.isnan(d):
            continue
        if d != 0:
            if not np.isnan(last) and (last < 0) != (d < 0):
                out[i] = 1.0 if d > 0 else -1.0
            last = d
    return out


def test_ema_rsi_bollinger_and_crossover_match_independent_computations(trades_file, prices):
    class Indicators(bt.Strategy):
        def __init__(self):
            price = ChannelBridge(channel=self.channels[("tick", "BTC/USDT")])
            self.ema = bt.indicators.EMA(price, period=12)
            self.rsi = bt.indicators.RSI(price, period=14)
            self.bands = bt.indicators.BollingerBands(price, period=20, devfactor=2.0)
            self.cross = bt.indicators.CrossOver(bt.indicators.SMA(price, period=10), bt.indicators.SMA(price, period=30))
            self.rows = []

        def notify_tick(self, tick):
            self.rows.append((self.ema[0], self.rsi[0], self.bands.mid[0], self.bands.top[0], self.bands.bot[0],
                              self.cross[0]))

    strategy = run_with(trades_file, Indicators)
    got = np.array(strategy.rows)
    series = pd.Series(prices)
    np.testing.assert_allclose(got[11:, 0], ema(prices, 12)[11:], atol=1e-6)
    np.testing.assert_allclose(got[14:, 1], wilder_rsi(prices, 14)[14:], atol=1e-6)
    mid, std = series.rolling(20).mean().to_numpy(), series.rolling(20).std(ddof=0).to_numpy()
    np.testing.assert_allclose(got[19:, 2], mid[19:], atol=1e-6)
    np.testing.assert_allclose(got[19:, 3], (mid + 2 * std)[19:], atol=1e-5)
    np.testing.assert_allclose(got[19:, 4], (mid - 2 * std)[19:], atol=1e-5)
    expected_cross = crossings(series.rolling(10).mean().to_numpy(), series.rolling(30).mean().to_numpy())
    assert np.array_equal(got[30:, 5], expected_cross[30:])
    assert np.count_nonzero(expected_cross) > 10  # the test data does cross


def test_book_fields_nested_and_derived(tmp_path):
    book = write_book_jsonl(tmp_path / "b.jsonl", [
        (T0, "snapshot", [[100.0, 1.0], [99.0, 2.0]], [[101.0, 1.0]]),
        (T0 + 1, "delta", [[100.5, 3.0]], []),
        (T0 + 2, "delta", [], [[101.0, 0.0], [102.0, 4.0]]),
    ])

    class BookBridges(bt.Strategy):
        def __init__(self):
            channel = self.channels[("orderbook", "BTC/USDT")]
            self.bid = ChannelBridge(channel=channel, field="best_bid.price")
            self.bid_size = ChannelBridge(channel=channel, field="best_bid.size")
            self.mid = ChannelBridge(channel=channel, field="mid_price")
            self.rows = []

        def notify_orderbook(self, book):
            self.rows.append((self.bid[0], self.bid_size[0], self.mid[0]))

    cerebro = bt.Cerebro()
    cerebro.add_channel(OrderBookChannel, symbol="BTC/USDT", dataname=book)
    cerebro.addstrategy(BookBridges)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert strategy.rows == [(100.0, 1.0, 100.5), (100.5, 3.0, 100.75), (100.5, 3.0, 101.25)]


def test_missing_channel_or_unknown_field_fails_at_construction():
    with pytest.raises(ValueError, match="needs channel="):
        ChannelBridge(field="price")
    with pytest.raises(ValueError, match="TickChannel items \\(TickEvent\\) have no field 'pric'"):
        ChannelBridge(channel=TickChannel("BTC/USDT"), field="pric")
    with pytest.raises(ValueError, match="have no field 'best_bid.prize'"):
        ChannelBridge(channel=OrderBookChannel("BTC/USDT"), field="best_bid.prize")
    with pytest.raises(ValueError, match="not a number"):
        ChannelBridge(channel=TickChannel("BTC/USDT"), field="direction")


def test_unknown_channel_key_in_a_strategy_names_the_key(trades_file):
    class Typo(bt.Strategy):
        def __init__(self):
            self.bridge = ChannelBridge(channel=self.channels[("tick", "ETH/USDT")])

    with pytest.raises(KeyError, match=r"no channel \('tick', 'ETH/USDT'\); added: \('tick', 'BTC/USDT'\)"):
        run_with(trades_file, Typo)


def test_live_bridge_steps_give_the_same_values_as_the_precomputed_backtest(trades_file, prices):
    """A backtest fills bridges up front; live runs step them per event: same numbers."""
    from backtrader_channels import Event, EventPriority, LiveEventQueue

    class Bands(bt.Strategy):
        def __init__(self):
            price = ChannelBridge(channel=self.channels[("tick", "BTC/USDT")])
            self.bands = bt.indicators.BollingerBands(price, period=20)
            self.rsi = bt.indicators.RSI(price, period=14)
            self.rows = []

        def notify_tick(self, tick):
            self.rows.append((len(self.bands), self.bands.mid[0], self.bands.top[0], self.rsi[0]))

    backtest = run_with(trades_file, Bands)
    queue = LiveEventQueue(max_queue_size=len(prices) + 1)
    for i, price in enumerate(prices[:500]):
        tick = TickEvent(T0 + i * 0.01, float(price), 0.1, "buy", trade_id=i, symbol="BTC/USDT")
        queue.push(Event(tick.timestamp, EventPriority.TICK, "tick", "BTC/USDT", data=tick))
    queue.stop()
    cerebro = bt.Cerebro()
    cerebro.add_channel(TickChannel, symbol="BTC/USDT")
    cerebro._event_queue = queue
    cerebro.addstrategy(Bands)
    (live,) = cerebro.run(mode=bt.RunMode.TICK)
    np.testing.assert_allclose(np.array(live.rows), np.array(backtest.rows[:500]), equal_nan=True, atol=1e-9)
    assert live.rows[-1][0] == 500
