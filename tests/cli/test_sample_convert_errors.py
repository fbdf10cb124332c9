"""sample and convert end bad requests with one line naming what is wrong, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtrader_channels.cli import main
from backtrader_channels.sample import generate_sample
from backtrader_channels.sources import SourceError, open_book, open_trades
from tests.conftest import T0, write_trades_csv


def run(capsys, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err


def test_sample_out_naming_an_existing_file(tmp_path: Path, capsys) -> None:
    taken = tmp_path / "taken"
    taken.write_text("keep me\n")
    for out in (taken, taken / "sub"):
        with pytest.raises(SystemExit) as exit_:
            main(["sample", "--out", str(out)])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.endswith(f"error: argument --out: {taken}: a file, not a folder\n")
    assert taken.read_text() == "keep me\n"
    with pytest.raises(NotADirectoryError, match="not a folder \\(the sample is written into a folder\\)"):
        generate_sample(taken)


def test_convert_to_a_bad_suffix_or_missing_folder(tmp_path: Path, capsys) -> None:
    source = write_trades_csv(tmp_path / "in.csv", [(T0, 100.0, 1.0, "buy")])
    assert run(capsys, "convert", str(source), str(tmp_path / "out.txt")) == (
        2, f"btchannels: {tmp_path / 'out.txt'}: trades are written as .csv, .csv.gz or .parquet\n"
    )
    assert run(capsys, "convert", str(source), str(tmp_path / "nowhere" / "out.csv")) == (
        2, f"btchannels: {tmp_path / 'nowhere'}: no such folder\n"
    )
    (tmp_path / "out.csv").mkdir()
    assert run(capsys, "convert", str(source), str(tmp_path / "out.csv")) == (
        2, f"btchannels: {tmp_path / 'out.csv'}: a folder, not a file to write\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_a_folder_given_as_a_data_file_says_so(tmp_path: Path, capsys) -> None:
    for opener, kind in ((open_trades, "trades"), (open_book, "book")):
        with pytest.raises(SourceError, match=rf": a folder, not a data file \(nor a {kind} recording: no Parquet "):
            opener(tmp_path)
    assert run(capsys, "convert", str(tmp_path), str(tmp_path / "out.csv")) == (
        2, f"btchannels: {tmp_path}: a folder, not a data file\n"
    )
    with pytest.raises(FileNotFoundError, match=r"missing.csv: no such file"):
        open_trades(tmp_path / "missing.csv")
