"""``btchannels ... --help`` and the bench table: every option described, defaults shown, user words only."""

from __future__ import annotations

import argparse
import re

import pytest

from backtrader_channels import bench
from backtrader_channels.cli import _parser, main

FORBIDDEN = ("``", "issue", "goal")  # RST markup and the project's tracker wording
PARSER = _parser()
SUBPARSERS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices
COMMANDS = list(SUBPARSERS)


def _parser_of(command: str) -> argparse.ArgumentParser:
    return bench.bench_parser() if command == "bench" else SUBPARSERS[command]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps to the terminal, also inside words with hyphens


def _help(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def _forbidden_in(text: str) -> list[str]:
    return [phrase for phrase in FORBIDDEN if phrase in text.lower()]


def test_the_command_list_describes_every_command(capsys):
    text = _help(capsys, ["--help"])
    assert set(COMMANDS) == {"sample", "demo", "backtest", "convert", "live", "fake-exchange", "bench", "validate",
                             "sweep", "record", "collect", "ctl", "replay", "download"}
    assert all(SUBPARSERS[name] is not None for name in COMMANDS)
    summaries = {action.dest: action.help for action in PARSER._actions[1]._choices_actions}
    assert all(summaries[name] for name in COMMANDS), summaries
    assert _forbidden_in(text) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_every_option_and_shows_defaults(command, capsys):
    text = _help(capsys, [command, "--help"])
    assert _forbidden_in(text) == []
    assert "default: None" not in text and "default: False" not in text
    for action in _parser_of(command)._actions:
        name = "/".join(action.option_strings) or action.dest
        assert action.help and len(action.help.split()) >= 2, f"{command} {name}: no help text"
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert f"(default: {action.default})" in text, f"{command} {name}: default not shown"


def test_defaults_are_shown_with_their_values(capsys):
    text = _help(capsys, ["backtest", "--help"])
    assert re.search(r"--cash CASH starting cash, in the quote currency \(default: 10000\.0\)", text)
    assert "--commission COMMISSION fee per fill as a fraction of its value, 0.001 = 0.1% (default: 0.001)" in text
    assert "--symbol SYMBOL the market the files hold (default: BTC/USDT)" in text


def test_bench_table_uses_user_words(capsys):
    rows = [bench.Row("1", "fast", 2e6, "events/s", 1e6), bench.Row("7", "memory", 250.0, "MB", 200.0,
                                                                      higher_is_better=False)]
    bench.print_rows(rows, "quick")
    table = capsys.readouterr().out
    assert "| # | what | measured | target | met | note |" in table
    assert "| 7 | memory | 250 MB | <= 200 | **missed** |" in table
    assert _forbidden_in(table) == []
    assert _forbidden_in(" ".join(bench.COSTS)) == []  # the cost table's row names


def test_bench_run_prints_user_words(capsys, tmp_path):
    assert bench.main_bench(["--only", "5", "--in-process", "--dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("| 5 |") == 3
    assert _forbidden_in(captured.out + captured.err) == []
