"""Bars from a channel (``cerebro.resampledata(channel, ...)``), worked out by hand: what each
bar holds, how it is stamped, when it closes, and where orders sent at the close fill."""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import numpy as np
import pytest

import backtrader_channels as bc
from backtrader_channels.channel_bars import ChannelBars, bars_of, fill_gaps
from tests.conftest import T0, bar_feed, write_book_jsonl, write_minute_bars, write_trades_csv

MINUTE = bt.TimeFrame.Minutes
# (seconds after T0, price, size): minute 0 has three trades, one 1 ms before its end; a trade
# exactly at 60 s opens minute 1; minute 2 is empty; minute 3 trades at 200 s only
TRADES = [(5, 100.0, 1.0), (30, 103.0, 2.0), (59.999, 101.0, 0.5), (60, 102.0, 1.0), (70, 99.0, 1.0),
          (200, 105.0, 3.0), (250, 104.0, 1.0)]


def trades_file(tmp_path, rows=TRADES):
    return write_trades_csv(tmp_path / "trades.csv", [(T0 + s, p, v, "buy") for s, p, v in rows])


class Recorder(bt.Strategy):
    """Records every next() (event time, bar stamp, OHLCV, len) and order fills; runs
    ``action(strategy)`` on each bar."""

    params = (("action", None),)

    def __init__(self):
        self.bars, self.fills, self.ticks = [], [], []

    def next(self):
        d = self.data
        self.bars.append((self.event_time - T0, bt.num2date(d.datetime[0]).timestamp() - T0, d.open[0], d.high[0],
                          d.low[0], d.close[0], d.volume[0], len(d)))
        if self.p.action is not None:
            self.p.action(self)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((self.event_time - T0, order.executed.price, order.executed.size))


def run(tmp_path, strategy=Recorder, rows=TRADES, feeds=({"timeframe": MINUTE},), **params):
    cerebro = bt.Cerebro(stdstats=False)
    channel = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades_file(tmp_path, rows))
    made = [cerebro.resampledata(channel, **options) for options in feeds]
    cerebro.addstrategy(strategy, **params)
    (result,) = cerebro.run(mode=bt.RunMode.TICK)
    return result, made


def test_bars_hold_their_interval_are_stamped_at_its_end_and_close_before_the_trade_at_the_end(tmp_path):
    class Watch(Recorder):
        def notify_tick(self, tick):
            self.bars.append(("tick", round(tick.timestamp - T0, 3)))

    strategy, (feed,) = run(tmp_path, Watch)
    assert isinstance(feed, ChannelBars) and feed.symbol == "BTC/USDT"
    assert strategy.bars == [
        ("tick", 5.0), ("tick", 30.0), ("tick", 59.999),
        (60.0, 60.0, 100.0, 103.0, 100.0, 101.0, 3.5, 1),  # [0, 60): closes before the trade at 60
        ("tick", 60.0), ("tick", 70.0),
        (120.0, 120.0, 102.0, 102.0, 99.0, 99.0, 2.0, 2),  # [60, 120); [120, 180) had no trade: no bar
        ("tick", 200.0),
        (240.0, 240.0, 105.0, 105.0, 105.0, 105.0, 3.0, 3),
        ("tick", 250.0),
        (300.0, 300.0, 104.0, 104.0, 104.0, 104.0, 1.0, 4),  # the last bar closes after the last trade
    ]


def test_market_order_at_a_close_fills_at_the_first_trade_at_or_after_it_and_gaps_fill_at_the_real_next_trade(
        tmp_path):
    def buy_then_sell(strategy):
        if len(strategy.data) == 1:
            strategy.buy(size=1.0)
        elif len(strategy.data) == 2:
            strategy.sell(size=1.0)

    strategy, _ = run(tmp_path, action=buy_then_sell)
    # bought at the close at 60: the trade at 60.000 (the next bar's open, 102.0)
    # sold at the close at 120: minute 2 never traded, so the next trade is at 200 (105.0), not a bar open at 120
    assert strategy.fills == [(60.0, 102.0, 1.0), (200.0, 105.0, -1.0)]


def test_limit_and_stop_orders_sent_at_a_close_fill_on_the_trades_after_it_by_the_fill_rules(tmp_path):
    rows = [(10, 100.0, 1.0), (65, 100.5, 1.0), (80, 99.6, 1.0), (90, 99.4, 1.0), (100, 101.2, 1.0),
            (110, 101.0, 1.0)]

    def orders(strategy):
        if len(strategy.data) == 1:  # close 100.0 at 60
            strategy.buy(size=1.0, exectype=bt.Order.Limit, price=99.5)
            strategy.buy(size=2.0, exectype=bt.Order.Stop, price=101.0)

    strategy, _ = run(tmp_path, rows=rows, action=orders)
    # the limit fills at 99.5 on the first trade printing below it (99.4 at 90; 99.6 does not);
    # the stop triggers on the first trade at or above 101.0 (101.2 at 100) and fills at that price
    assert strategy.fills == [(90.0, 99.5, 1.0), (100.0, 101.2, 2.0)]


def test_with_a_trade_in_every_minute_fills_equal_plain_backtraders_next_open(tmp_path):
    rng = np.random.default_rng(3)
    seconds = np.sort(np.concatenate([np.arange(0, 1200, 60) + 1.5, rng.uniform(0, 1200, 300)]))
    prices = np.round(100 + np.cumsum(rng.normal(0, 0.1, len(seconds))), 2)
    rows = [(float(s), float(p), 1.0) for s, p in zip(seconds, prices)]

    class Cross(bt.Strategy):
        def __init__(self):
            self.cross = bt.indicators.CrossOver(bt.indicators.SMA(period=2), bt.indicators.SMA(period=4))
            self.created, self.fills = [], []

        def next(self):
            if self.cross[0]:
                self.created.append(bt.num2date(self.data.datetime[0]))
                self.order_target_size(target=1.0 if self.cross[0] > 0 else 0.0)  # spot: long or flat

        def notify_order(self, order):
            if order.status == order.Completed:
                self.fills.append((order.executed.price, order.executed.size))

    ticks, _ = run(tmp_path, Cross, rows=rows)
    bars = bars_of(((T0 + seconds) * 1e9).astype(np.int64), prices, np.ones(len(prices)), 60 * 10**9)
    assert len(bars) == 20  # every minute traded
    path = tmp_path / "bars.csv"
    path.write_text("datetime,open,high,low,close,volume\n" + "".join(
        f"{dt.datetime.utcfromtimestamp(end / 1e9):%Y-%m-%d %H:%M:%S},{o},{h},{lo},{c},{v}\n"
        for end, o, h, lo, c, v in zip(*bars)))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bar_feed(path))
    cerebro.addstrategy(Cross)
    (plain,) = cerebro.run()
    assert len(ticks.created) >= 3
    assert ticks.created == plain.created
    assert ticks.fills == plain.fills


def test_bars_are_stamped_as_backtraders_own_resampler_stamps_them(tmp_path):
    rng = np.random.default_rng(11)
    seconds = np.sort(rng.uniform(0, 900, 400)).round(3)
    seconds = seconds[(seconds % 60 != 0) & (seconds % 300 != 0)]  # backtrader puts an edge trade in the bar before
    prices = np.round(100 + np.cumsum(rng.normal(0, 0.1, len(seconds))), 2)
    rows = [(float(s), float(p), 1.0) for s, p in zip(seconds, prices)]
    ticks_path = tmp_path / "ticks.csv"
    ticks_path.write_text("datetime,price,volume\n" + "".join(
        f"{dt.datetime.utcfromtimestamp(T0 + s):%Y-%m-%d %H:%M:%S.%f},{p},{v}\n" for s, p, v in rows))

    class Bars(bt.Strategy):
        def __init__(self):
            self.seen = {0: [], 1: []}

        def prenext(self):
            self.next()

        def next(self):
            for i, data in enumerate(self.datas):
                if not len(data):
                    continue
                row = (bt.num2date(data.datetime[0]), data.open[0], data.high[0], data.low[0], data.close[0],
                       data.volume[0])
                if not self.seen[i] or self.seen[i][-1] != row:
                    self.seen[i].append(row)

    plain = bt.Cerebro(stdstats=False)
    for compression in (1, 5):
        plain.resampledata(bt.feeds.GenericCSVData(
            dataname=str(ticks_path), dtformat="%Y-%m-%d %H:%M:%S.%f", timeframe=bt.TimeFrame.Ticks, datetime=0,
            open=1, high=1, low=1, close=1, volume=2, openinterest=-1), timeframe=MINUTE, compression=compression)
    plain.addstrategy(Bars)
    (theirs,) = plain.run()
    ours, _ = run(tmp_path, Bars, rows=rows, feeds=({"timeframe": MINUTE}, {"timeframe": MINUTE, "compression": 5}))
    assert len(ours.seen[0]) == 15 and len(ours.seen[1]) == 3
    for i in (0, 1):
        assert [row[0] for row in ours.seen[i]] == [row[0] for row in theirs.seen[i]]
        assert [row[1:] for row in ours.seen[i]] == [pytest.approx(row[1:]) for row in theirs.seen[i]]


def test_two_timeframes_of_one_channel_close_together_at_shared_ends(tmp_path):
    rows = [(s, 100.0 + s, 1.0) for s in (10, 70, 130, 190, 250, 310, 370)]

    class Two(bt.Strategy):
        def __init__(self):
            self.steps = []

        def next(self):
            self.steps.append((self.event_time - T0, len(self.data0), len(self.data1), self.data1.close[0]))

    strategy, _ = run(tmp_path, Two, rows=rows, feeds=({"timeframe": MINUTE}, {"timeframe": MINUTE, "compression": 5}))
    # the 5-minute bar [0, 300) closes with the 1-minute bar [240, 300): one step, both grown;
    # the one of [300, 600) at 600, after the last 1-minute bar
    assert strategy.steps == [(300.0, 5, 1, 350.0), (360.0, 6, 1, 350.0), (420.0, 7, 1, 350.0),
                              (600.0, 7, 2, 100.0 + 370.0)]


def test_channel_bars_mix_with_ordinary_bar_feeds_and_other_channels(tmp_path):
    cerebro = bt.Cerebro(stdstats=False)
    btc = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades_file(tmp_path))
    eth_rows = [(T0 + s, 3000.0 + s, 1.0, "buy") for s in (20, 80, 140)]
    eth = cerebro.add_channel(bc.TickChannel, symbol="ETH/USDT", dataname=write_trades_csv(tmp_path / "e.csv",
                                                                                             eth_rows))
    cerebro.resampledata(btc, timeframe=MINUTE)
    cerebro.resampledata(eth, timeframe=MINUTE)
    cerebro.adddata(bar_feed(write_minute_bars(tmp_path / "bars.csv", [1.0, 2.0, 3.0])), name="file")

    class Mixed(bt.Strategy):
        def __init__(self):
            self.steps, self.fills = [], []

        def prenext(self):
            self.steps.append((self.event_time - T0, *(len(d) for d in self.datas)))

        def next(self):
            self.prenext()
            if not self.fills and len(self.steps) == 3:
                self.buy(data=self.datas[1], size=1.0)

        def notify_order(self, order):
            if order.status == order.Completed:
                self.fills.append((order.data._name, order.executed.price, self.event_time - T0))

    cerebro.addstrategy(Mixed)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    # channel bars close before the trades at their end; the file's bars (stamped 60, 120, 180)
    # after them, as ordinary bar feeds do
    assert strategy.steps == [(60.0, 1, 1, 0), (60.0, 1, 1, 1), (120.0, 2, 2, 1), (120.0, 2, 2, 2),
                              (180.0, 2, 3, 2), (180.0, 2, 3, 3), (240.0, 3, 3, 3), (300.0, 4, 3, 3)]
    # sent at the file's bar at 120 on the ETH bars: it trades ETH, at its next trade (140)
    assert strategy.fills == [("ETH/USDT", 3140.0, 140.0)]


def test_fill_gaps_gives_flat_bars_for_intervals_without_trades(tmp_path):
    strategy, _ = run(tmp_path, feeds=({"timeframe": MINUTE, "fill_gaps": True},))
    assert [bar[1:] for bar in strategy.bars] == [
        (60.0, 100.0, 103.0, 100.0, 101.0, 3.5, 1), (120.0, 102.0, 102.0, 99.0, 99.0, 2.0, 2),
        (180.0, 99.0, 99.0, 99.0, 99.0, 0.0, 3),  # no trade in [120, 180): flat at the last close
        (240.0, 105.0, 105.0, 105.0, 105.0, 3.0, 4), (300.0, 104.0, 104.0, 104.0, 104.0, 1.0, 5)]
    empty = bars_of(np.array([0], np.int64), np.array([1.0]), np.array([1.0]), 60 * 10**9)
    assert len(fill_gaps(empty, 60 * 10**9)) == 1


def test_book_bars_of_mid_best_bid_and_best_ask(tmp_path):
    updates = [(T0 + 10, "snapshot", [[99.0, 1.0]], [[101.0, 1.0]]),
               (T0 + 40, "delta", [[100.0, 1.0]], []),  # bid 100: mid 100.5
               (T0 + 70, "delta", [], [[101.0, 0.0], [104.0, 1.0]])]  # ask 104: mid 102
    cerebro = bt.Cerebro(stdstats=False)
    book = cerebro.add_channel(bc.OrderBookChannel, symbol="BTC/USDT",
                               dataname=write_book_jsonl(tmp_path / "book.jsonl", updates))
    feeds = [cerebro.resampledata(book, timeframe=MINUTE, **({"field": f} if f else {})) for f in (None, "bid", "ask")]
    cerebro.addstrategy(bt.Strategy)
    cerebro.run(mode=bt.RunMode.TICK)
    rows = [[(feed.open[-i], feed.high[-i], feed.low[-i], feed.close[-i], feed.volume[-i]) for i in (1, 0)]
            for feed in feeds]
    assert rows == [[(100.0, 100.5, 100.0, 100.5, 0.0), (102.0, 102.0, 102.0, 102.0, 0.0)],
                    [(99.0, 100.0, 99.0, 100.0, 0.0), (100.0, 100.0, 100.0, 100.0, 0.0)],
                    [(101.0, 101.0, 101.0, 101.0, 0.0), (104.0, 104.0, 104.0, 104.0, 0.0)]]


def test_a_tick_only_strategy_reading_self_data_gets_one_clear_error(tmp_path):
    class BarStrategy(bt.Strategy):
        def __init__(self):
            self.sma = bt.indicators.SMA(self.data.close, period=3)

        def notify_tick(self, tick):
            if self.sma[0] > tick.price:
                self.buy()

    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades_file(tmp_path))
    cerebro.addstrategy(BarStrategy)
    message = ("this strategy reads self.data, but the run has no bar feed: add "
               "cerebro.resampledata(channel, timeframe=...)")
    with pytest.raises(ValueError, match=r"^this strategy reads self\.data, but the run has no bar feed") as error:
        cerebro.run(mode=bt.RunMode.TICK)
    assert str(error.value) == message


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"timeframe": bt.TimeFrame.Days}, ValueError, "takes timeframe Seconds, Minutes"),
    ({"timeframe": MINUTE, "compression": 7}, ValueError, "compression=7 does not divide a day"),
    ({"timeframe": MINUTE, "field": "mid"}, ValueError, "TickChannel's bars are of field 'price', not 'mid'"),
    ({"timeframe": MINUTE, "rightedge": False}, TypeError, "not rightedge"),
    ({"compression": 5}, TypeError, "needs timeframe="),
])
def test_resampledata_refuses_what_channel_bars_cannot_be(tmp_path, options, error, message):
    cerebro = bt.Cerebro()
    channel = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades_file(tmp_path))
    with pytest.raises(error, match=message):
        cerebro.resampledata(channel, **options)


def test_replaydata_refuses_a_channel_and_plain_feeds_still_resample(tmp_path):
    cerebro = bt.Cerebro()
    channel = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades_file(tmp_path))
    with pytest.raises(TypeError, match="replaydata does not take a channel"):
        cerebro.replaydata(channel, timeframe=MINUTE)
    plain = bt.Cerebro()
    feed = plain.resampledata(bar_feed(write_minute_bars(tmp_path / "b.csv", [1.0, 2.0])), timeframe=MINUTE,
                              compression=2)
    assert not isinstance(feed, ChannelBars)


def test_in_bar_mode_channel_bars_are_an_ordinary_bar_feed(tmp_path):
    """``cerebro.run()`` without the tick mode: backtrader's own loop and fills (next bar's open)."""
    def buy_then_sell(strategy):
        if len(strategy.data) == 1:
            strategy.buy(size=1.0)
        elif len(strategy.data) == 2:
            strategy.sell(size=1.0)

    cerebro = bt.Cerebro(stdstats=False)
    channel = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades_file(tmp_path))
    cerebro.resampledata(channel, timeframe=MINUTE)
    cerebro.addstrategy(Recorder, action=buy_then_sell)
    (strategy,) = cerebro.run()
    assert [bar[1:] for bar in strategy.bars] == [
        (60.0, 100.0, 103.0, 100.0, 101.0, 3.5, 1), (120.0, 102.0, 102.0, 99.0, 99.0, 2.0, 2),
        (240.0, 105.0, 105.0, 105.0, 105.0, 3.0, 3), (300.0, 104.0, 104.0, 104.0, 104.0, 1.0, 4)]
    # the next bars' opens; no event time in bar mode
    assert [fill[1:] for fill in strategy.fills] == [(102.0, 1.0), (105.0, -1.0)]
