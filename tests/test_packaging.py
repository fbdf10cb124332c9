"""Packaging: a lean core install, extras that bring each optional part, and clear errors
naming the extra to install when an optional package is missing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
OPTIONAL = ("ccxt", "aiohttp", "matplotlib", "pandas", "redis", "msgpack", "dask", "distributed", "tqdm", "numba",
            "plotly", "rich")

# a meta_path finder that makes the named top-level packages look not installed
REFUSE = """
import sys

class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _Refuse())
"""

STRATEGY = """
import backtrader as bt

class BuyOnce(bt.Strategy):
    def __init__(self):
        self.ticks = 0

    def notify_tick(self, tick):
        self.ticks += 1
        if self.ticks == 1:
            self.buy(size=1)
"""


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def _self_extras(requirements: list[str]) -> set[str]:
    """The extras of this project a requirement list pulls in ('backtrader-channels[a,b]')."""
    found: set[str] = set()
    for requirement in requirements:
        match = re.fullmatch(r"backtrader-channels\[([a-z,]+)\]", requirement)
        if match:
            found.update(match.group(1).split(","))
    return found


def _run(code: str, cwd: Path, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    prelude = REFUSE.format(blocked=set(blocked)) if blocked else ""
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _trades_csv(path: Path) -> Path:
    rows = [(1_735_689_600 + i, 100.0 + i, 0.5, "buy") for i in range(5)]
    path.write_text("timestamp,price,volume,direction\n" + "".join(f"{t},{p},{v},{d}\n" for t, p, v, d in rows))
    return path


def test_the_core_install_is_backtrader_numpy_pyarrow_and_zlib_ng():
    assert _names(PROJECT["dependencies"]) == {"backtrader", "numpy", "pyarrow", "zlib-ng"}


def test_each_extra_brings_its_optional_packages():
    assert _names(EXTRAS["live"]) == {"ccxt", "aiohttp"}
    assert _names(EXTRAS["plot"]) == {"matplotlib"}
    assert _names(EXTRAS["report"]) == {"plotly", "rich"}  # btchannels backtest --report, rich tables
    assert _names(EXTRAS["bench"]) == {"pandas"}
    assert _names(EXTRAS["sweep"]) == {"pandas", "dask", "tqdm"}
    assert _names(EXTRAS["bus"]) == {"redis", "hiredis", "msgpack"}
    assert _names(EXTRAS["record"]) == {"msgpack"}
    assert _names(EXTRAS["peers"]) == {"pandas", "nautilus_trader", "hftbacktest"}  # btchannels bench --peers
    assert _names(EXTRAS["fast"]) == {"numba"}  # the compiled order book
    assert _names(EXTRAS["download"]) == {"aiohttp", "tqdm"}  # btchannels download
    assert _self_extras(EXTRAS["all"]) == {"live", "plot", "report", "bench", "sweep", "bus", "record", "download"}


def test_the_test_extra_is_everything_plus_the_tools():
    assert _self_extras(EXTRAS["test"]) == {"all", "fast", "peers"}  # the peers test runs the peers
    tools = {"pytest", "pytest-benchmark", "pytest-xdist", "hypothesis", "ruff", "mypy", "playwright"}
    assert _names(EXTRAS["test"]) - {"backtrader-channels"} == tools
    assert "hypothesis>=6.100" in EXTRAS["test"]


def test_the_explicit_api_module_is_in_the_distribution():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["py-modules"] == ["btchannels"]


BACKTEST = f"""
    import json, sys
    import backtrader as bt
    import backtrader_channels as bc
    from buy_once import BuyOnce

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname="ticks.csv")
    cerebro.addstrategy(BuyOnce)
    cerebro.run(mode=bt.RunMode.TICK)
    fills = [(f.size, f.price) for f in cerebro.tick_result.fills]
    optional = sorted({{name.partition(".")[0] for name in sys.modules}} & set({OPTIONAL!r}))
    print(json.dumps({{"fills": fills, "optional": optional}}))
"""


def _backtest(tmp_path: Path, blocked: tuple[str, ...] = ()) -> dict:
    _trades_csv(tmp_path / "ticks.csv")
    (tmp_path / "buy_once.py").write_text(STRATEGY)
    done = _run(BACKTEST, cwd=tmp_path, blocked=blocked)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_tick_backtest_runs_with_no_optional_package_installed(tmp_path):
    report = _backtest(tmp_path, blocked=OPTIONAL)
    assert report["fills"] == [[1, 101.0]]  # a market buy after the first trade fills at the second
    assert report["optional"] == []


def test_a_tick_backtest_imports_no_optional_package_of_its_own(tmp_path):
    report = _backtest(tmp_path)
    assert report["fills"] == [[1, 101.0]]
    # pyarrow itself imports pandas when it is installed (pa.scalar checks for pandas objects)
    assert report["optional"] in ([], ["pandas"])


def test_the_live_feeds_without_ccxt_name_the_live_extra(tmp_path):
    done = _run("from backtrader_channels.feeds import CCXTLiveTickFeed", cwd=tmp_path, blocked=("ccxt",))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ImportError: the live feeds need ccxt: pip install 'backtrader-channels[live]'"
    )


def test_the_fake_exchange_without_aiohttp_names_the_live_extra(tmp_path):
    done = _run("from backtrader_channels.testing import FakeBinance", cwd=tmp_path, blocked=("aiohttp",))
    assert done.stderr.strip().splitlines()[-1] == (
        "ImportError: the fake exchange needs aiohttp: pip install 'backtrader-channels[live]'"
    )


def test_a_chart_without_matplotlib_names_the_plot_extra_after_the_summary(tmp_path):
    ticks = _trades_csv(tmp_path / "ticks.csv")
    (tmp_path / "buy_once.py").write_text(STRATEGY)
    done = _run(f"""
        import sys
        from backtrader_channels.cli import main
        sys.exit(main(["backtest", "buy_once.py", "--ticks", {str(ticks)!r}, "--chart", "run.png"]))
    """, cwd=tmp_path, blocked=("matplotlib",))
    assert done.returncode == 2
    assert "trades closed" not in done.stderr and "fills" in done.stdout  # the summary came first
    assert done.stderr.strip() == "btchannels: the chart needs matplotlib: pip install 'backtrader-channels[plot]'"
    assert not (tmp_path / "run.png").exists()


def test_a_report_without_plotly_names_the_report_extra_after_the_summary(tmp_path):
    ticks = _trades_csv(tmp_path / "ticks.csv")
    (tmp_path / "buy_once.py").write_text(STRATEGY)
    done = _run(f"""
        import sys
        from backtrader_channels.cli import main
        sys.exit(main(["backtest", "buy_once.py", "--ticks", {str(ticks)!r}, "--report", "run.html"]))
    """, cwd=tmp_path, blocked=("plotly", "rich"))
    assert done.returncode == 2
    assert "fills" in done.stdout  # the summary came first, as plain text
    assert done.stderr.strip() == "btchannels: the HTML report needs plotly: pip install 'backtrader-channels[report]'"
    assert not (tmp_path / "run.html").exists()


def test_the_download_command_without_aiohttp_names_the_download_extra(tmp_path):
    done = _run("""
        import sys
        from backtrader_channels.cli import main
        sys.exit(main(["download", "--symbol", "BTC/USDT", "--from", "2024-01-01", "--to", "2024-01-01",
                       "--out", "cache", "--base-url", "http://127.0.0.1:9"]))
    """, cwd=tmp_path, blocked=("aiohttp",))
    assert done.returncode == 2  # a user error: the CLI's one error path
    assert done.stderr.strip() == "btchannels: btchannels download needs aiohttp: pip install 'backtrader-channels[download]'"
    assert not (tmp_path / "cache").exists()


def test_sweeps_and_the_event_log_name_their_extras(tmp_path):
    sweep = _run("import backtrader_channels.sweep.api", cwd=tmp_path, blocked=("pandas",))
    assert sweep.stderr.strip().splitlines()[-1] == (
        "ImportError: sweeps need pandas: pip install 'backtrader-channels[sweep]'"
    )
    log = _run("import backtrader_channels.record.eventlog", cwd=tmp_path, blocked=("msgpack",))
    assert log.stderr.strip().splitlines()[-1] == (
        "ImportError: the event log needs msgpack: pip install 'backtrader-channels[record]'"
    )


def test_a_book_channel_asked_for_the_compiled_book_needs_numba_and_keeps_the_python_one_without_it(tmp_path):
    code = """
        import os
        import backtrader_channels as bc
        os.environ["BTCHANNELS_BOOK"] = "{choice}"
        channel = bc.OrderBookChannel("X")
        channel.apply(1.0, True, [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0)])
        channel.apply(2.0, False, [(99.0, 0.0)], [(100.5, 3.0)])
        print(type(channel.book).__name__, channel.book.depth(2))
    """
    without = _run(code.format(choice="auto"), cwd=tmp_path, blocked=("numba",))
    with_numba = _run(code.format(choice="compiled"), cwd=tmp_path)
    refused = _run(code.format(choice="compiled"), cwd=tmp_path, blocked=("numba",))
    assert without.returncode == 0 and with_numba.returncode == 0, without.stderr + with_numba.stderr
    depth = "([Level(price=98.0, size=2.0)], [Level(price=100.5, size=3.0), Level(price=101.0, size=1.0)])"
    assert without.stdout.strip() == f"OrderBook {depth}"
    assert with_numba.stdout.strip() == f"CompiledOrderBook {depth}"
    assert refused.stderr.strip().splitlines()[-1] == (
        "ImportError: BTCHANNELS_BOOK=compiled needs numba: pip install 'backtrader-channels[fast]'"
    )
