"""The funding-rate kind: payments booked in cash, worked by hand, from real files."""

from __future__ import annotations

import zipfile

import backtrader as bt
import pytest

import backtrader_channels as bc
from backtrader_channels.kinds import KINDS, ControlChannel, kind_of
from backtrader_channels.kinds.funding import FundingClock
from backtrader_channels.kinds.orders import OrderChannel
from backtrader_channels.sources import SourceError
from tests.conftest import T0, Scripted, write_trades_csv

TRADES = [(T0, 100.0, 1.0, "buy"), (T0 + 10, 100.0, 1.0, "buy"), (T0 + 20, 110.0, 1.0, "sell"),
          (T0 + 40, 110.0, 1.0, "buy")]


class FundedLong(Scripted):
    """Buys 2 on the first trade; records funding events and the cash notify_cashvalue sees."""

    def __init__(self):
        super().__init__()
        self.funding = []
        self.cash_seen = []

    def notify_funding(self, event):
        self.funding.append((event.timestamp, event.rate, self.broker.getcash()))

    def notify_cashvalue(self, cash, value):
        self.cash_seen.append((self.event_time, round(cash, 9)))


def run_funded(tmp_path, funding_file, **channel_kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", TRADES))
    cerebro.add_channel(bc.FundingChannel, symbol="BTC/USDT", dataname=funding_file, **channel_kw)
    cerebro.addstrategy(FundedLong, actions={1: lambda s: s.buy(size=2.0)})
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return strategy, cerebro


def test_a_long_pays_positive_funding_and_receives_negative_funding_worked_by_hand(tmp_path):
    funding = tmp_path / "funding.csv"
    funding.write_text(f"timestamp,rate,mark_price\n{T0 + 30},0.0001,\n{T0 + 50},-0.0002,120\n")
    strategy, cerebro = run_funded(tmp_path, funding)
    # bought 2 at 100 on the second trade: cash 9,800
    # T0+30, no mark price in the file: valued at the last trade, 110: pays 2 x 110 x 0.0001 = 0.022
    # T0+50, mark 120: receives 2 x 120 x 0.0002 = 0.048
    result = cerebro.tick_result
    assert [(flow.timestamp, flow.kind, round(flow.amount, 9)) for flow in result.cashflows] == [
        (T0 + 30, "funding", -0.022), (T0 + 50, "funding", 0.048)]
    assert cerebro.broker.getcash() == pytest.approx(9_800.026)
    assert result.end_value == pytest.approx(9_800.026 + 2 * 110.0)
    assert result.cashflow_total("funding") == pytest.approx(0.026)
    assert ("funding", "+0.03 (2 payments)") in result.rows()
    assert [(ts, rate, round(cash, 9)) for ts, rate, cash in strategy.funding] == [
        (T0 + 30, 0.0001, 9_799.978), (T0 + 50, -0.0002, 9_800.026)]
    assert (T0 + 30, 9_799.978) in strategy.cash_seen  # notify_cashvalue in the funding step
    channel = strategy.channels[("funding", "BTC/USDT")]
    assert len(channel) == 2 and channel.rate == -0.0002


def test_no_position_no_payment_and_events_order_before_trades_at_the_same_time(tmp_path):
    funding = tmp_path / "funding.csv"
    funding.write_text(f"timestamp,rate\n{T0},0.01\n{T0 + 10},0.01\n")
    strategy, cerebro = run_funded(tmp_path, funding)
    # T0: flat, nothing paid. T0+10: funding (priority 10) comes before the trade at T0+10
    # that fills the buy, so the position is still flat then too.
    assert cerebro.tick_result.cashflows == []
    assert cerebro.broker.getcash() == pytest.approx(9_800.0)
    assert [event[0] for event in strategy.funding] == [T0, T0 + 10]


def test_binance_usdm_funding_rate_dump(tmp_path):
    dump = tmp_path / "BTCUSDT-fundingRate-2025-01.zip"
    rows = [f"{int((T0 + 30) * 1000)},8,0.00010000", f"{int((T0 + 50) * 1000)},8,-0.00020000"]
    with zipfile.ZipFile(dump, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-fundingRate-2025-01.csv",
                         "calc_time,funding_interval_hours,last_funding_rate\n" + "\n".join(rows) + "\n")
    strategy, cerebro = run_funded(tmp_path, dump)
    # no mark price in Binance's dump: both valued at the last trade, 110
    assert [round(flow.amount, 9) for flow in cerebro.tick_result.cashflows] == [-0.022, 0.044]


def test_a_bad_funding_row_names_file_line_and_field(tmp_path):
    funding = tmp_path / "funding.csv"
    funding.write_text(f"timestamp,rate\n{T0},0.01\n{T0 + 10},abc\n")
    with pytest.raises(SourceError, match=r"funding.csv, line 3, field 'rate'"):
        bc.FundingChannel("BTC/USDT", funding)
    skipping = bc.FundingChannel("BTC/USDT", funding, on_error="skip")
    assert skipping.source.skipped_rows == 1


def test_a_file_without_funding_columns_is_refused(tmp_path):
    path = write_trades_csv(tmp_path / "t.csv", TRADES)
    with pytest.raises(SourceError, match="not a funding-rate file"):
        bc.FundingChannel("BTC/USDT", path)


def test_live_mark_price_updates_become_one_event_per_funding_time():
    """Binance's markPriceUpdate as ccxt's watch_mark_price hands it over (the raw message in info)."""
    clock = FundingClock("BTC/USDT")

    def ticker(event_ms, rate, mark, next_ms):
        return {"symbol": "BTC/USDT", "info": {"e": "markPriceUpdate", "E": event_ms, "s": "BTCUSDT",
                                                "p": mark, "r": rate, "T": next_ms}}

    first_funding = 1_735_718_400_000  # 08:00 UTC
    assert clock.update(ticker(first_funding - 2000, "0.00010000", "100.0", first_funding)) is None
    assert clock.update(ticker(first_funding - 1000, "0.00012000", "101.0", first_funding)) is None
    event = clock.update(ticker(first_funding + 1000, "0.00003000", "102.0", first_funding + 8 * 3_600_000))
    assert (event.timestamp, event.rate, event.mark_price, event.symbol) == (
        first_funding / 1e3, 0.00012, 101.0, "BTC/USDT")


def test_the_registry_knows_each_kind_and_names_the_known_ones_for_an_unknown_one():
    assert {name: (kind.priority, kind.channel, kind.callback) for name, kind in KINDS.items()} == {
        "orderbook": (bc.EventPriority.ORDERBOOK, bc.OrderBookChannel, "notify_orderbook"),
        "tick": (bc.EventPriority.TICK, bc.TickChannel, "notify_tick"),
        "funding": (bc.EventPriority.FUNDING, bc.FundingChannel, "notify_funding"),
        "control": (bc.EventPriority.CONTROL, ControlChannel, None),  # notify_control: called by its step
        "orders": (bc.EventPriority.ORDERS, OrderChannel, "notify_exchange"),
        "bar": (bc.EventPriority.BAR, None, None),  # bar closes: no channel, backtrader's own next
    }
    with pytest.raises(KeyError, match="unknown channel kind 'quote'; known: orderbook, tick, funding, control, orders"):
        kind_of("quote")


def test_order_updates_stamped_out_of_order_all_reach_the_strategy():
    """The exchange's word on our orders is not market data: an update stamped before the last
    one (a REST look-up after a timeout answers with the order's creation time) is booked,
    never refused by the validator as out of order."""
    from backtrader_channels import Event, LiveEventQueue
    from backtrader_channels.kinds.orders import OrderUpdate

    def event(timestamp: float, client_id: str) -> Event:
        update = OrderUpdate(timestamp, "BTC/USDT", client_id, None, "open", source="rest")
        return Event(timestamp, bc.EventPriority.ORDERS, "orders", "BTC/USDT", update)

    queue = LiveEventQueue()
    queue.push(event(T0 + 10, "later"))

    class Seen(bt.Strategy):
        def __init__(self):
            self.updates = []

        def notify_exchange(self, update):
            self.updates.append(update.client_id)
            if update.client_id == "later":  # arrives after an update stamped later was handled
                queue.push(event(T0 + 5, "earlier"))
                queue.stop()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    cerebro.addstrategy(Seen)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert strategy.updates == ["later", "earlier"]
    assert cerebro._bc_engine.live.rejected == 0
