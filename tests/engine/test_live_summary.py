"""The live run's summary names every loss under its cause: bad trades by cause, missed ids.
Real ccxt.pro client against the local FakeBinance."""

from __future__ import annotations

import threading

import backtrader as bt

from tests.phase4.test_live_run import SYMBOL, BuyThirdTick, live_cerebro, server  # noqa: F401


def test_the_feed_row_counts_bad_trades_by_cause_and_misses_none(server):  # noqa: F811
    cerebro, feed, _ = live_cerebro(server)
    cerebro.addstrategy(BuyThirdTick, stop_after=6)

    def send() -> None:
        server.wait_subscriptions(server.trade_stream(SYMBOL), 1)
        server.send_trades(SYMBOL, 3, timeout=2.0)  # ids 1-3
        server.send_bad_trade(SYMBOL, price="0")  # id 4: a price of 0
        server.send_bad_trade(SYMBOL, price="abc")  # id 5: not a number
        server.send_trades(SYMBOL, 3, timeout=2.0)  # ids 6-8: the strategy stops at its sixth tick

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    cerebro.run(mode=bt.RunMode.TICK, duration=30)
    sender.join(5)
    strategy_ticks = [trade_id for trade_id, _, _ in cerebro.runstrats[0][0].ticks]
    assert strategy_ticks == [1, 2, 3, 6, 7, 8]
    row = dict(cerebro._bc_engine.live.rows())[f"feed tick {SYMBOL}"]
    assert "2 bad (invalid_price 1, unparseable 1)" in row
    assert "0 missed," in row
    assert "lost in ccxt's cache" not in row
