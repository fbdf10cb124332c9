"""A zip whose data does not match its checksum: found before any row when the member is
stored, else reported with the rows already delivered."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from backtrader_channels.sources import SourceError, open_trades

ROWS = 5_000


def binance_zip(path: Path, compression: int) -> Path:
    lines = [f"{i},100.{i % 10},1.0,100.0,{1735689600000 + i},false,true" for i in range(1, ROWS + 1)]
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("BTCUSDT-trades-2025-01-01.csv", "\n".join(lines) + "\n")
    return path


def test_a_corrupt_stored_zip_fails_before_any_row(tmp_path: Path) -> None:
    path = binance_zip(tmp_path / "BTCUSDT-trades-2025-01-01.zip", zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.index(b"100.4,1.0,100.0,1735689604004")  # row 4004, near the end
    data[at + 2] = ord("9")  # 100.4 -> 109.4: still a valid row, only the checksum tells
    path.write_bytes(bytes(data))

    source = open_trades(path, chunk_rows=500)
    with pytest.raises(SourceError) as raised:
        next(source.chunks())
    assert str(raised.value) == f"{path}: corrupt zip data (CRC mismatch), found before reading any row"


def test_a_late_checksum_error_says_how_many_rows_were_delivered(tmp_path: Path) -> None:
    path = binance_zip(tmp_path / "BTCUSDT-trades-2025-01-01.zip", zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 16] ^= 0xFF  # the checksum the central directory records
    path.write_bytes(bytes(data))

    delivered = 0
    with pytest.raises(SourceError) as raised:
        for chunk in open_trades(path, chunk_rows=500).chunks():
            delivered += len(chunk)
    assert delivered == ROWS
    assert str(raised.value) == f"{path}: corrupt zip data (CRC mismatch), after 5,000 rows were delivered"


def test_a_sound_stored_zip_reads_every_row(tmp_path: Path) -> None:
    path = binance_zip(tmp_path / "BTCUSDT-trades-2025-01-01.zip", zipfile.ZIP_STORED)
    chunks = list(open_trades(path, chunk_rows=500).chunks())
    assert sum(len(chunk) for chunk in chunks) == ROWS
    assert chunks[-1].trade_id[-1] == ROWS and chunks[0].price[3] == 100.4
