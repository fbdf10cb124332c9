"""convert() writes through a temporary file it creates itself, never through one found there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backtrader_channels.sources import SourceError, convert, open_trades
from tests.conftest import T0, write_trades_csv

ROWS = [(T0, 100.0, 1.0, "buy"), (T0 + 1, 101.0, 2.0, "sell")]


def test_a_symlink_at_the_old_temporary_name_is_left_alone(tmp_path: Path) -> None:
    source = write_trades_csv(tmp_path / "in.csv", ROWS)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    trap = tmp_path / ".out.csv.partial"
    trap.symlink_to(victim)

    assert convert(source, tmp_path / "out.csv") == 2

    assert victim.read_text() == "precious\n"
    assert trap.is_symlink() and os.readlink(trap) == str(victim)
    chunk = next(open_trades(tmp_path / "out.csv").chunks())
    assert chunk.price.tolist() == [100.0, 101.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.csv.partial", "in.csv", "out.csv", "victim.txt"]


def test_a_failed_convert_leaves_no_temporary_file_and_no_output(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("timestamp,price,volume,direction\n1735689600,100,1,buy\n1735689601,oops,1,buy\n")

    with pytest.raises(SourceError, match="line 3"):
        convert(source, tmp_path / "out.parquet")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_the_output_gets_the_usual_permissions(tmp_path: Path) -> None:
    source = write_trades_csv(tmp_path / "in.csv", ROWS)
    mask = os.umask(0o022)
    try:
        convert(source, tmp_path / "out.csv.gz")
    finally:
        os.umask(mask)
    assert (tmp_path / "out.csv.gz").stat().st_mode & 0o777 == 0o644
