"""Every bad request to ``btchannels`` ends with exit status 2 and one line on stderr,
``btchannels: <what>: <why>``, naming what is wrong (the file, the parameter, the symbol),
never a traceback; argparse's refusals keep its usage lines, then one line naming the
parameter. Most cases run ``main()`` in this process; a representative few, and those
that need a fresh interpreter (a missing extra) or a server, run the real command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from backtrader_channels.cli import main
from backtrader_channels.cli_errors import BUG_EXIT, REPORT, report_errors
from backtrader_channels.extras import EXTRA_OF
from backtrader_channels.sample import sample_market
from backtrader_channels.testing import FakeBinance
from tests.conftest import T0, write_book_jsonl, write_trades_csv
from tests.test_packaging import EXTRAS, REFUSE

GOOD = "import backtrader as bt\n\n\nclass Quiet(bt.Strategy):\n    pass\n"
TWO = GOOD + "\n\nclass Other(bt.Strategy):\n    pass\n"


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Path:
    """The files the bad requests name: strategies, data files, logs, keys, folders."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "good.py").write_text(GOOD)
    (root / "two.py").write_text(TWO)
    (root / "empty.py").write_text("x = 1\n")
    (root / "syntax.py").write_text("import backtrader as bt\nclass S(bt.Strategy:\n    pass\n")
    (root / "imports.py").write_text("import backtrader as bt\nimport no_such_module_here\n")
    (root / "binary.py").write_bytes(b"\xff\xfe\x00garbage\n")
    write_trades_csv(root / "t.csv", [(T0, 100.0, 1, "buy"), (T0 + 1, 101.0, 1, "buy")])
    (root / "bad.csv").write_text("timestamp,price,volume,direction\n1735689600,100,1,buy\n1735689601,abc,1,buy\n")
    (root / "noise.bin").write_bytes(bytes(range(256)) * 8)
    write_book_jsonl(root / "crossed.jsonl", [(T0, "snapshot", [[102.0, 1.0]], [[101.0, 1.0]])])
    (root / "garbage.log").write_text("garbage\n")
    (root / "noise.log").write_bytes(b"\xc1\xff\xb5" * 100)
    (root / "empty.log").write_bytes(b"")
    header = {"channels": [["tick", "BTC/USDT"]], "params": {}, "cash": 1000.0, "commission": {}}
    (root / "corrupt.log").write_bytes(msgpack.packb(["H", 2, header]) + msgpack.packb(["E", 1, "tick"]))
    (root / "keys.json").write_text("{apiKey: x")
    (root / "list.json").write_text(json.dumps(["apiKey", "secret"]))
    (root / "afile").write_text("a file where a folder is needed\n")
    (root / "adir").mkdir()
    (root / "adir.csv").mkdir()
    (root / "keysdir").mkdir()
    return root


# (id, argv in the workspace, words the error must hold); "{w}" is the workspace folder,
# "{closed}" a closed port on 127.0.0.1
CASES: list[tuple[str, str, tuple[str, ...]]] = [
    # backtest: the strategy file
    ("strategy-syntax-error", "backtest {w}/syntax.py --ticks {w}/t.csv", ("syntax.py, line 2", "invalid syntax")),
    ("strategy-import-error", "backtest {w}/imports.py --ticks {w}/t.csv",
     ("imports.py, line 2", "no_such_module_here")),
    ("strategy-not-text", "backtest {w}/binary.py --ticks {w}/t.csv", ("binary.py", "null bytes")),
    ("strategy-a-folder", "backtest {w}/adir --ticks {w}/t.csv", ("strategy_file", "adir: a folder")),
    ("strategy-missing", "backtest {w}/missing.py --ticks {w}/t.csv", ("strategy_file", "missing.py: no such file")),
    ("strategy-without-class", "backtest {w}/empty.py --ticks {w}/t.csv", ("empty.py", "defines 0 strategy")),
    ("strategy-two-classes", "backtest {w}/two.py --ticks {w}/t.csv", ("two.py", "--strategy")),
    ("strategy-unknown-name", "backtest {w}/good.py --strategy Nope --ticks {w}/t.csv", ("'Nope'", "good.py")),
    # backtest: data files
    ("ticks-missing", "backtest {w}/good.py --ticks {w}/missing.csv", ("missing.csv", "no such file")),
    ("ticks-a-folder", "backtest {w}/good.py --ticks {w}/adir", ("adir", "a folder, not a data file")),
    ("ticks-bad-row", "backtest {w}/good.py --ticks {w}/bad.csv", ("bad.csv, line 3, field 'price'", "abc")),
    ("ticks-not-data", "backtest {w}/good.py --ticks {w}/noise.bin", ("noise.bin", "not a known trades file")),
    ("book-crossed", "backtest {w}/good.py --ticks {w}/t.csv --book {w}/crossed.jsonl", ("crossed",)),
    # backtest: numbers and outputs
    ("cash-negative", "backtest {w}/good.py --ticks {w}/t.csv --cash -5", ("--cash", "'-5'")),
    ("cash-nan", "backtest {w}/good.py --ticks {w}/t.csv --cash nan", ("--cash", "'nan'")),
    ("cash-text", "backtest {w}/good.py --ticks {w}/t.csv --cash abc", ("--cash", "'abc'")),
    ("commission-negative", "backtest {w}/good.py --ticks {w}/t.csv --commission -0.1", ("--commission", "'-0.1'")),
    ("commission-infinite", "backtest {w}/good.py --ticks {w}/t.csv --commission inf", ("--commission", "'inf'")),
    ("chart-a-folder", "backtest {w}/good.py --ticks {w}/t.csv --chart {w}/adir", ("--chart", "adir: a folder")),
    ("chart-under-a-file", "backtest {w}/good.py --ticks {w}/t.csv --chart {w}/afile/c.png",
     ("--chart", "afile: a file, not a folder")),
    ("unknown-option", "backtest {w}/good.py --ticks {w}/t.csv --nope", ("--nope",)),
    # sample and demo
    ("sample-minutes-negative", "sample --out {w}/s --minutes -5", ("--minutes", "'-5'")),
    ("sample-minutes-nan", "sample --out {w}/s --minutes nan", ("--minutes", "'nan'")),
    ("sample-minutes-zero", "sample --out {w}/s --minutes 0", ("--minutes", "'0'")),
    ("sample-seed-negative", "sample --out {w}/s --seed -1", ("--seed", "'-1'")),
    ("sample-out-a-file", "sample --out {w}/afile", ("--out", "afile: a file, not a folder")),
    ("sample-out-under-a-file", "sample --out {w}/afile/s", ("--out", "afile: a file, not a folder")),
    ("demo-out-a-file", "demo --out {w}/afile", ("--out", "afile: a file, not a folder")),
    ("demo-cash-negative", "demo --out {w}/d --cash -5", ("--cash", "'-5'")),
    ("demo-commission-negative", "demo --out {w}/d --commission -1", ("--commission", "'-1'")),
    # convert and validate
    ("convert-source-missing", "convert {w}/missing.csv {w}/o.csv", ("missing.csv", "no such file")),
    ("convert-source-bad-row", "convert {w}/bad.csv {w}/o.csv", ("bad.csv, line 3, field 'price'",)),
    ("convert-destination-suffix", "convert {w}/t.csv {w}/o.txt", ("o.txt", ".parquet")),
    ("convert-destination-no-folder", "convert {w}/t.csv {w}/nowhere/o.csv", ("nowhere", "no such folder")),
    ("convert-destination-a-folder", "convert {w}/t.csv {w}/adir.csv", ("adir.csv", "a folder")),
    ("validate-missing", "validate {w}/missing.csv", ("missing.csv", "no such file")),
    ("validate-a-folder", "validate {w}/adir", ("adir", "a folder")),
    ("validate-not-data", "validate {w}/noise.bin", ("noise.bin", "not a known trades file")),
    ("validate-kind-unknown", "validate {w}/t.csv --kind bars", ("--kind", "'bars'")),
    ("validate-format-unknown", "validate {w}/t.csv --format bogus", ("--format", "'bogus'")),
    # replay
    ("replay-garbage-log", "replay {w}/garbage.log {w}/good.py", ("garbage.log", "not an event log")),
    ("replay-binary-log", "replay {w}/noise.log {w}/good.py", ("noise.log", "not an event log")),
    ("replay-corrupt-record", "replay {w}/corrupt.log {w}/good.py", ("corrupt.log: record 2", "not an event-log record")),
    ("replay-empty-log", "replay {w}/empty.log {w}/good.py", ("empty.log", "not an event log")),
    ("replay-log-a-folder", "replay {w}/adir {w}/good.py", ("log", "adir: a folder")),
    ("replay-log-missing", "replay {w}/missing.log {w}/good.py", ("log", "missing.log: no such file")),
    # ctl
    ("ctl-no-destination", "ctl stop", ("--bus", "--socket")),
    ("ctl-bus-without-run", "ctl stop --bus redis://127.0.0.1:{closed}", ("--bus", "--run")),
    ("ctl-bus-not-a-url", "ctl stop --bus localhost --run r", ("--bus", "'localhost'")),
    ("ctl-redis-unreachable", "ctl stop --bus redis://127.0.0.1:{closed} --run r", ("Redis", "127.0.0.1:{closed}")),
    ("ctl-socket-missing", "ctl stop --socket {w}/none.sock", ("none.sock", "no run answers")),
    ("ctl-socket-not-a-socket", "ctl stop --socket {w}/afile", ("afile", "no run answers")),
    ("ctl-command-unknown", "ctl halt --socket {w}/none.sock", ("command", "'halt'")),
    # live: refused before anything connects
    ("live-duration-negative", "live {w}/good.py --duration -5", ("--duration", "'-5'")),
    ("live-duration-nan", "live {w}/good.py --duration nan", ("--duration", "'nan'")),
    ("live-cash-nan", "live {w}/good.py --cash nan", ("--cash", "'nan'")),
    ("live-keys-bad-json", "live {w}/good.py --broker ccxt --keys {w}/keys.json", ("--keys", "keys.json: not JSON")),
    ("live-keys-a-folder", "live {w}/good.py --broker ccxt --keys {w}/keysdir", ("--keys", "keysdir: a folder")),
    ("live-keys-not-an-object", "live {w}/good.py --broker ccxt --keys {w}/list.json",
     ("--keys", "list.json: not a JSON object")),
    ("live-event-log-a-folder", "live {w}/good.py --event-log {w}/adir", ("--event-log", "adir: a folder")),
    ("live-bus-not-a-url", "live {w}/good.py --bus 127.0.0.1:6379 --run r", ("--bus", "'127.0.0.1:6379'")),
    ("live-bus-without-run", "live {w}/good.py --bus redis://127.0.0.1:{closed}", ("--bus", "--run")),
    ("live-rest-url-alone", "live {w}/good.py --rest-url http://127.0.0.1:{closed}", ("--rest-url and --ws-url",)),
    ("live-ws-url-not-ws", "live {w}/good.py --ws-url http://127.0.0.1:1", ("--ws-url", "'http://127.0.0.1:1'")),
    ("live-leverage-zero", "live {w}/good.py --leverage 0", ("--leverage", "'0'")),
    # record and collect
    ("record-out-a-file", "record --symbol BTC/USDT --trades --out {w}/afile", ("--out", "afile: a file")),
    ("record-nothing-to-record", "record --symbol BTC/USDT --out {w}/rec", ("record", "--trades and/or --book")),
    ("record-depth-zero", "record --symbol BTC/USDT --book --out {w}/rec --depth 0", ("--depth", "'0'")),
    ("record-flush-negative", "record --symbol BTC/USDT --trades --out {w}/rec --flush-interval -1",
     ("--flush-interval", "'-1'")),
    ("record-duration-nan", "record --symbol BTC/USDT --trades --out {w}/rec --duration nan", ("--duration", "'nan'")),
    ("collect-bus-not-a-url", "collect --bus http://127.0.0.1:6379 --symbol BTC/USDT --trades", ("--bus", "http://")),
    ("collect-duration-negative", "collect --bus redis://127.0.0.1:{closed} --symbol BTC/USDT --trades --duration -5",
     ("--duration", "'-5'")),
    ("collect-maxlen-zero", "collect --bus redis://127.0.0.1:{closed} --symbol BTC/USDT --trades --maxlen 0",
     ("--maxlen", "'0'")),
    # sweep
    ("sweep-strategy-syntax-error", "sweep {w}/syntax.py --ticks {w}/t.csv", ("syntax.py, line 2",)),
    ("sweep-symbols-mismatch", "sweep {w}/good.py --ticks {w}/t.csv --ticks {w}/t.csv", ("--symbol", "2 --ticks")),
    ("sweep-heatmap-one-name", "sweep {w}/good.py --ticks {w}/t.csv --heatmap fast", ("--heatmap", "'fast'")),
    ("sweep-workers-zero", "sweep {w}/good.py --ticks {w}/t.csv --workers 0", ("--workers", "'0'")),
    ("sweep-param-malformed", "sweep {w}/good.py --ticks {w}/t.csv --param fast", ("--param", "'fast'")),
    ("sweep-cash-nan", "sweep {w}/good.py --ticks {w}/t.csv --cash nan", ("--cash", "'nan'")),
    # fake-exchange
    ("fake-port-out-of-range", "fake-exchange --port 70000", ("--port", "'70000'")),
    ("fake-trade-rate-zero", "fake-exchange --trade-rate 0", ("--trade-rate", "'0'")),
    ("fake-balance-malformed", "fake-exchange --trading --balance USDT", ("--balance", "'USDT'")),
    ("fake-balance-without-trading", "fake-exchange --balance USDT=5", ("--balance", "--trading")),
]


def argv_of(template: str, w: Path, closed: int) -> list[str]:
    return [part.format(w=w, closed=closed) for part in template.split()]


def assert_refused(status: int | str | None, err: str, words: tuple[str, ...]) -> None:
    """Exit 2, no traceback, one ``btchannels: `` line (or argparse's usage, then one
    error line), holding each of ``words``."""
    assert status == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    if lines[0].startswith("usage: "):  # argparse: its usage, then the line naming the parameter
        assert lines[-1].startswith("btchannels") and ": error: " in lines[-1], err
        assert all(line.startswith(" ") for line in lines[1:-1]), err
    else:
        assert len(lines) == 1 and lines[0].startswith("btchannels: "), err
    for word in words:
        assert word in lines[-1], (word, err)


@pytest.mark.parametrize(("template", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_request_is_refused_in_one_line(template, words, w, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # argparse's usage wraps the same way wherever the tests run
    closed = closed_port()
    try:
        status = main(argv_of(template, w, closed))
    except SystemExit as exit_:  # argparse refuses before the command runs
        status = exit_.code
    captured = capsys.readouterr()
    assert_refused(status, captured.err, tuple(word.format(closed=closed) for word in words))
    assert "btchannels:" not in captured.out


def test_there_are_at_least_49_cases_each_named_once():
    assert len(CASES) >= 49 and len({case[0] for case in CASES}) == len(CASES)


CLI = [sys.executable, "-m", "backtrader_channels.cli"]


def btchannels(*argv: str, prelude: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in a fresh interpreter; ``prelude`` runs first (to block imports)."""
    command = (CLI if not prelude else
               [sys.executable, "-c", prelude + "\nimport sys\nfrom backtrader_channels.cli import main\n"
                                              "sys.exit(main(sys.argv[1:]))\n"])
    return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("template", "words"), [
    pytest.param("backtest {w}/syntax.py --ticks {w}/t.csv", ("syntax.py, line 2",), id="strategy-syntax-error"),
    pytest.param("sample --out {w}/s --minutes nan", ("--minutes", "'nan'"), id="sample-minutes-nan"),
    pytest.param("demo --out {w}/afile", ("--out", "afile"), id="demo-out-a-file"),
    pytest.param("replay {w}/garbage.log {w}/good.py", ("garbage.log", "not an event log"), id="replay-garbage"),
    pytest.param("live {w}/good.py --broker ccxt --keys {w}/keys.json", ("--keys", "keys.json"), id="live-keys"),
])
def test_the_real_command_refuses_in_one_line(template, words, w):
    done = btchannels(*argv_of(template, w, 0))
    assert_refused(done.returncode, done.stderr, words)
    assert done.stdout == ""


def test_redis_unreachable_is_one_line_and_quick(w, capsys):
    closed = closed_port()
    argv = ["ctl", "stop", "--bus", f"redis://127.0.0.1:{closed}", "--run", "r"]
    started = time.monotonic()
    status = main(argv)
    assert time.monotonic() - started < 5  # refused at once: no retry loop, no hang
    assert_refused(status, capsys.readouterr().err, ("Redis", f"127.0.0.1:{closed}", "refused"))
    done = btchannels(*argv)  # the real command: the same line, no traceback
    assert_refused(done.returncode, done.stderr, ("Redis", f"127.0.0.1:{closed}", "refused"))


def test_record_of_an_unknown_symbol_is_one_line_naming_it(w):
    with FakeBinance(["BTC/USDT"], price=60_000.0) as server:
        done = btchannels("record", "--symbol", "FOO/BAR", "--trades", "--out", str(w / "rec-unknown"),
                          "--rest-url", server.http_url, "--ws-url", server.ws_url, "--duration", "20")
    assert_refused(done.returncode, done.stderr, ("unknown symbol", "FOO/BAR"))


@pytest.mark.parametrize(("blocked", "template", "words"), [
    pytest.param("redis", "ctl stop --bus redis://127.0.0.1:1 --run r", ("needs redis", "[bus]"), id="ctl-no-redis"),
    pytest.param("redis", "collect --bus redis://127.0.0.1:1 --symbol BTC/USDT --trades",
                 ("redis is not installed", "[bus]"), id="collect-no-redis"),
    pytest.param("dask,distributed", "sweep {w}/good.py --ticks {w}/t.csv --param x=1",
                 ("distributed is not installed", "[sweep]"), id="sweep-no-dask"),
    pytest.param("ccxt", "live {w}/good.py", ("need ccxt", "[live]"), id="live-no-ccxt"),
    pytest.param("msgpack", "replay {w}/garbage.log {w}/good.py", ("the event log needs msgpack", "[record]"), id="replay-no-msgpack"),
    pytest.param("matplotlib", "backtest {w}/good.py --ticks {w}/t.csv --chart {w}/c.png",
                 ("needs matplotlib", "[plot]"), id="chart-no-matplotlib"),
])
def test_a_missing_extra_is_one_line_naming_what_to_install(blocked, template, words, w):
    done = btchannels(*argv_of(template, w, 0), prelude=REFUSE.format(blocked=set(blocked.split(","))))
    assert_refused(done.returncode, done.stderr, words)


def test_each_optional_package_is_named_with_the_extra_that_brings_it():
    for module, extra in EXTRA_OF.items():
        assert any(requirement.startswith("dask[distributed]" if module == "distributed" else module)
                   for requirement in EXTRAS[extra]), (module, extra)


STRATEGY_RAISES = textwrap.dedent("""
    import backtrader as bt


    def halve(x):
        return x / 0


    class Broken(bt.Strategy):
        def notify_tick(self, tick):
            halve(tick.price)
""")

OWN_CHANNEL = textwrap.dedent("""
    import backtrader as bt

    from backtrader_channels import OrderBookChannel


    class OwnChannel(bt.Strategy):
        def __init__(self):
            self.book = OrderBookChannel("BTC/USDT", history_size=0)
""")


def test_an_error_in_the_strategy_shows_its_own_traceback_and_line(w):
    strategy = w / "raises.py"
    strategy.write_text(STRATEGY_RAISES)
    done = btchannels("backtest", str(strategy), "--ticks", str(w / "t.csv"))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[-1] == f"btchannels: {strategy}, line 6: the strategy raised ZeroDivisionError: float division by zero"
    assert lines[0] == "Traceback (most recent call last):"
    frames = [line for line in lines if line.startswith("  File ")]
    assert [frame.split(", ")[1] for frame in frames] == ["line 11", "line 6"]  # its frames only
    assert all(str(strategy) in frame for frame in frames)


STRATEGY_JSON = textwrap.dedent("""
    import json

    import backtrader as bt


    class Settings(bt.Strategy):
        def __init__(self):
            self.settings = json.loads("{not json")
""")


def test_an_error_a_library_raises_for_the_strategy_is_the_strategys_not_a_bug(w, capsys):
    strategy = w / "settings.py"
    strategy.write_text(STRATEGY_JSON)
    assert main(["backtest", str(strategy), "--ticks", str(w / "t.csv")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == (f"btchannels: {strategy}, line 9: the strategy raised JSONDecodeError: Expecting property "
                         "name enclosed in double quotes: line 1 column 2 (char 1)")
    assert REPORT not in lines and f'File "{strategy}", line 9, in __init__' in lines[1]


def test_a_call_the_library_refuses_names_the_strategy_line(w, capsys):
    strategy = w / "own_channel.py"
    strategy.write_text(OWN_CHANNEL)
    assert main(["backtest", str(strategy), "--ticks", str(w / "t.csv")]) == 2
    assert capsys.readouterr().err == (f"btchannels: {strategy}, line 9: OrderBookChannel: history_size must be >= 1, "
                                       "got 0\n")


def test_a_value_error_from_our_api_is_the_users_one_from_python_a_bug():
    out: list[str] = []

    class Lines:
        def write(self, text: str) -> None:
            out.append(text)

    def run(command: Callable[[], int]) -> tuple[int, list[str]]:
        out.clear()
        status = report_errors(command, stream=Lines())  # type: ignore[arg-type]
        return status, "".join(out).splitlines()

    status, lines = run(lambda: len(sample_market(duration=-1.0)))
    assert (status, lines) == (2, ["btchannels: duration must be a positive number of seconds and levels at least 1, "
                                   "got -1.0 and 20"])
    status, lines = run(lambda: int("12x"))  # a ValueError raised inside Python: what our code left unchecked
    assert status == BUG_EXIT
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: invalid literal for int() with base 10: '12x'", REPORT]


def test_validate_names_the_first_unreadable_row_in_the_words_of_a_backtest(w, capsys):
    assert main(["validate", str(w / "bad.csv")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert main(["backtest", str(w / "good.py"), "--ticks", str(w / "bad.csv")]) == 2
    refused = capsys.readouterr().err.removeprefix("btchannels: ").rstrip("\n")
    assert refused == f"{w / 'bad.csv'}, line 3, field 'price': not a number ('abc')"
    assert out == [f"{w / 'bad.csv'}: 1 events, 0 rejected, 1 unreadable rows skipped",
                   f"  first unreadable row: {refused}",
                   "  unreadable not a number 1"]
