"""A symbol the file contradicts: refused when a Binance file name says another symbol,
a warning when a symbol column holds only other symbols."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import backtrader as bt
import pytest

import backtrader_channels as bc
from backtrader_channels.cli import main
from backtrader_channels.sources import SourceError, open_trades

LINES = [f"{i},100.{i},1.0,100.0,{1735689600000 + 1000 * i},false,true" for i in range(1, 4)]


def binance_zip(folder: Path, name: str = "BTCUSDT-trades-2025-01-01") -> Path:
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", "\n".join(LINES) + "\n")
    return path


def prices(source) -> list[float]:
    return [float(p) for chunk in source.chunks() for p in chunk.price]


def test_a_binance_file_name_of_another_symbol_is_refused(tmp_path: Path) -> None:
    path = binance_zip(tmp_path)
    with pytest.raises(SourceError) as raised:
        open_trades(path, symbol="ETH/USDT")
    assert str(raised.value) == (
        f"{path}: the file name says BTCUSDT, not ETH/USDT "
        "(pass check_symbol=False to read it as ETH/USDT all the same)"
    )
    assert prices(open_trades(path, symbol="btc-usdt")) == [100.1, 100.2, 100.3]
    assert prices(open_trades(path, symbol="ETH/USDT", check_symbol=False)) == [100.1, 100.2, 100.3]
    monthly = binance_zip(tmp_path, "ETHUSDT-aggTrades-2025-01")
    with pytest.raises(SourceError, match="the file name says ETHUSDT, not BTC/USDT"):
        open_trades(monthly, symbol="BTC/USDT")


def test_backtest_with_the_wrong_symbol_stops_with_one_line(tmp_path: Path, capsys) -> None:
    strategy = tmp_path / "nothing.py"
    strategy.write_text("import backtrader as bt\n\nclass Nothing(bt.Strategy):\n    pass\n")
    path = binance_zip(tmp_path)
    assert main(["backtest", str(strategy), "--ticks", str(path), "--symbol", "ETH/USDT"]) == 2
    assert capsys.readouterr().err == (
        f"btchannels: {path}: the file name says BTCUSDT, not ETH/USDT "
        "(pass check_symbol=False to read it as ETH/USDT all the same)\n"
    )


def test_a_channel_can_override_the_check(tmp_path: Path) -> None:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="ETH/USDT", dataname=binance_zip(tmp_path), check_symbol=False)
    cerebro.addstrategy(bt.Strategy)
    cerebro.run(mode=bt.RunMode.TICK)
    assert cerebro.tick_result.events == 3


def test_a_symbol_column_without_the_symbol_warns(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(
        "timestamp,price,volume,direction,symbol\n"
        "1735689600,100,1,buy,BTCUSDT\n1735689601,101,1,sell,BTCUSDT\n1735689602,50,1,buy,SOL/USDT\n"
    )
    source = open_trades(path, symbol="ETH/USDT")
    with pytest.warns(UserWarning) as warned:
        assert prices(source) == []
    assert [str(w.message) for w in warned] == [f"{path}: no trades of ETH/USDT: its 3 rows are of BTCUSDT, SOL/USDT"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rows of the symbol were found: no warning
        assert prices(open_trades(path, symbol="BTC/USDT")) == [100.0, 101.0]
