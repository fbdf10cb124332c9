"""btchannels download against a local data.binance.vision: MB/s on large files, files/s on small ones."""

from __future__ import annotations

import os
import shutil

import pytest

from backtrader_channels.download import download_report
from backtrader_channels.testing import BinanceDataServer


def _day(n: int) -> str:
    """The n-th day of a 28-day-a-month calendar from 2024-01-01: never a whole month, so daily files."""
    return f"2024-{1 + n // 28:02d}-{1 + n % 28:02d}"


@pytest.mark.benchmark(group="download")
@pytest.mark.parametrize(("files", "size"), [(24, 4_000_000), (112, 20_000)], ids=["4MB-files", "20kB-files"])
def test_download_throughput(benchmark, tmp_path, files, size):
    """``files`` zips of ``size`` random bytes, downloaded 4 at once into an empty cache;
    the client and the server share this machine's cores (and one process)."""
    cache = tmp_path / "cache"
    reports = []
    with BinanceDataServer(tmp_path / "site") as site:
        for n in range(files):
            site.publish(f"spot/daily/trades/BTCUSDT/BTCUSDT-trades-{_day(n)}.zip", os.urandom(size))
        benchmark.pedantic(
            lambda: reports.append(download_report("BTC/USDT", start=_day(0), end=_day(files - 1), out=cache,
                                                   base_url=site.url, jobs=4, skip_missing=True)),
            setup=lambda: shutil.rmtree(cache, ignore_errors=True), rounds=3, iterations=1)
    report = reports[-1]
    assert (report.fetched, report.bytes, report.failures) == (files, files * size, [])
    best = min(r.seconds for r in reports)
    benchmark.extra_info.update(mb_per_second=files * size / 1e6 / best, files_per_second=files / best)
