"""Arrow columns read as numpy from their buffers (``sources.arrays.numpy_of``), so reading a
Parquet day does not import pandas through pyarrow's pandas shim (about 35 MB resident)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from backtrader_channels.bench.inputs import trade_chunks
from backtrader_channels.sources import write_trades
from backtrader_channels.sources.arrays import arrow_copy, numpy_of


def test_numbers_and_booleans_with_nulls_and_offsets():
    ints = pa.array([1, None, 3, None, 10**18 + 1], pa.int64()).slice(1)
    assert numpy_of(ints, 7).tolist() == [7, 3, 7, 10**18 + 1]  # exact beyond float precision
    assert numpy_of(pa.array([1.5, None, -2.0]), 0.0).tolist() == [1.5, 0.0, -2.0]
    assert numpy_of(pa.array([3, 200], pa.uint8())).tolist() == [3, 200]
    flags = pa.array([True, None, False, True, None, True, False, True, True, None], pa.bool_()).slice(1)
    assert numpy_of(flags, True).tolist() == [True, False, True, True, True, False, True, True, True]
    assert numpy_of(pa.array([], pa.int8())).dtype == np.int8
    with pytest.raises(TypeError, match="not string"):
        numpy_of(pa.array(["a"]))


READ_DAY = """
import sys
from backtrader_channels.sources import open_trades
rows = sum(len(chunk) for chunk in open_trades(sys.argv[1]).chunks())
print(rows, "pandas" in sys.modules)
"""


def test_reading_parquet_trades_does_not_import_pandas(tmp_path):
    path = tmp_path / "trades.parquet"
    write_trades(path, trade_chunks(1_000))
    done = subprocess.run([sys.executable, "-c", READ_DAY, str(path)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1000", "False"]


def test_arrow_copy_owns_its_bytes():
    # Arrow's threaded CSV/JSON readers get this instead of pa.py_buffer(data): a reader thread
    # releasing a Python-owned buffer at interpreter exit aborted the process (about 1 run in 40
    # on a loaded machine: "terminate called without an active exception").
    source = bytearray(b"1735689600.5,94000.1,0.25,buy\n")
    copy = arrow_copy(source)
    source[:4] = b"XXXX"
    assert copy.to_pybytes() == b"1735689600.5,94000.1,0.25,buy\n"
    assert arrow_copy(b"").size == 0
