"""Cash, commission, value and trades behave as in backtrader."""

from __future__ import annotations

import backtrader as bt
import pytest

import backtrader_channels as bc
from tests.conftest import T0, Scripted, write_trades_csv


def test_commission_cash_value_and_trade_pnl_worked_by_hand(run_ticks):
    trades = [(T0, 100.0, 1, "buy"), (T0 + 1, 101.0, 1, "buy"), (T0 + 2, 105.0, 1, "buy"), (T0 + 3, 104.0, 1, "sell")]
    values = []
    actions = {
        1: lambda s: s.buy(size=2.0),
        3: lambda s: (values.append((s.broker.getcash(), s.broker.getvalue())), s.close())[1],
    }
    strategy, cerebro = run_ticks(trades, actions=actions, cash=10_000.0, commission=0.001)
    buy_comm = 2 * 101.0 * 0.001  # 0.1% of the traded value
    sell_comm = 2 * 104.0 * 0.001
    assert strategy.orders[0][:4] == ("Completed", 101.0, 2.0, pytest.approx(buy_comm))
    assert strategy.orders[1][:4] == ("Completed", 104.0, -2.0, pytest.approx(sell_comm))
    # at the third trade (105) cash paid for the buy and value marks the position at 105
    assert values == [(pytest.approx(10_000 - 202.0 - buy_comm), pytest.approx(10_000 - 202.0 - buy_comm + 210.0))]
    assert strategy.trades == [(pytest.approx(6.0), pytest.approx(6.0 - buy_comm - sell_comm))]
    final = 10_000 + 6.0 - buy_comm - sell_comm
    assert cerebro.broker.getvalue() == pytest.approx(final)
    assert cerebro.broker.getcash() == pytest.approx(final)
    result = cerebro.tick_result
    assert result.pnl == pytest.approx(final - 10_000)
    assert result.fees == pytest.approx(buy_comm + sell_comm)
    assert [(f.size, f.price) for f in result.fills] == [(2.0, 101.0), (-2.0, 104.0)]
    assert (result.trades_closed, result.trades_won) == (1, 1)


def test_order_that_cash_cannot_cover_is_refused_with_margin_status(run_ticks):
    strategy, cerebro = run_ticks([(T0, 100.0, 1, "buy"), (T0 + 1, 100.0, 1, "buy")],
                                  actions={1: lambda s: s.buy(size=11.0)}, cash=1_000.0)
    assert [status for status, *_ in strategy.orders] == ["Margin"]
    assert cerebro.broker.getcash() == 1_000.0
    assert strategy.position.size == 0


def test_setcash_and_setcommission_before_or_after_add_channel(tmp_path):
    path = write_trades_csv(tmp_path / "t.csv", [(T0, 100.0, 1, "buy"), (T0 + 1, 100.0, 1, "buy"), (T0 + 2, 100.0, 1, "buy")])
    outcomes = []
    for before in (True, False):
        cerebro = bt.Cerebro(stdstats=False)
        if before:
            cerebro.broker.setcash(5_000.0)
            cerebro.broker.setcommission(commission=0.002)
        cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
        if not before:
            cerebro.broker.setcash(5_000.0)
            cerebro.broker.setcommission(commission=0.002)
        assert cerebro.broker.getcash() == 5_000.0
        cerebro.addstrategy(Scripted, actions={1: lambda s: s.buy(size=1.0)})
        cerebro.run(mode=bt.RunMode.TICK)
        outcomes.append(cerebro.broker.getvalue())
    assert outcomes == [pytest.approx(5_000.0 - 0.2)] * 2


def test_value_marks_positions_to_the_last_trade_price(run_ticks):
    seen = []
    trades = [(T0 + i, price, 1, "buy") for i, price in enumerate([100.0, 100.0, 110.0, 90.0])]
    actions = {1: lambda s: s.buy(size=1.0), 3: lambda s: seen.append(s.broker.getvalue()),
               4: lambda s: seen.append(s.broker.getvalue())}
    strategy, _ = run_ticks(trades, actions=actions, cash=1_000.0)
    assert seen == [pytest.approx(1_010.0), pytest.approx(990.0)]


def test_trade_analyzer_and_transactions_work_in_tick_mode(tmp_path):
    path = write_trades_csv(tmp_path / "t.csv", [(T0 + i, 100.0 + i, 1, "buy") for i in range(6)])
    cerebro = bt.Cerebro()
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    cerebro.addstrategy(Scripted, actions={1: lambda s: s.buy(size=1.0), 3: lambda s: s.close()})
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(bt.analyzers.Transactions, _name="tx")
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    analysis = strategy.analyzers.trades.get_analysis()
    assert analysis.total.closed == 1
    assert analysis.won.total == 1
    assert analysis.pnl.net.total == pytest.approx(103.0 - 101.0)
    transactions = list(strategy.analyzers.tx.get_analysis().values())
    assert [entry[0][:2] for entry in transactions] == [[1.0, 101.0], [-1.0, 103.0]]
    assert [entry[0][3] for entry in transactions] == ["BTC/USDT", "BTC/USDT"]
