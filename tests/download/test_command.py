"""`btchannels download` as a user runs it: a real subprocess against a local data.binance.vision."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backtrader_channels.testing import generate_trades

from .conftest import DAILY, publish_days


def btchannels(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backtrader_channels.cli", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def download_args(site, out: Path, start: str = "2024-01-01", end: str = "2024-01-03") -> list[str]:
    return ["download", "--symbol", "BTC/USDT", "--data", "trades", "--market", "spot", "--from", start,
            "--to", end, "--out", str(out), "--base-url", site.url]


def test_the_command_downloads_the_days_and_says_so(site, tmp_path):
    publish_days(site, "2024-01-01", 3)
    out = tmp_path / "cache"
    done = btchannels(*download_args(site, out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"3 of 3 files verified in {out}: 3 downloaded (")
    assert done.stdout.rstrip().endswith(", 0 already there")
    assert sorted(p.name for p in (out / DAILY).glob("*.zip")) == [
        f"BTCUSDT-trades-2024-01-0{n}.zip" for n in (1, 2, 3)]


def test_a_missing_day_fails_the_command_after_the_rest_is_downloaded(site, tmp_path):
    publish_days(site, "2024-01-01", 3)
    for suffix in ("", ".CHECKSUM"):
        (site.root / "data" / DAILY / f"BTCUSDT-trades-2024-01-02.zip{suffix}").unlink()
    out = tmp_path / "cache"
    done = btchannels(*download_args(site, out))
    missing = f"BTCUSDT-trades-2024-01-02.zip: not published (404) at {site.url}/data/{DAILY}/BTCUSDT-trades-2024-01-02.zip"
    assert done.returncode == 2
    assert done.stderr == f"btchannels: {missing}\n"
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"2 of 3 files verified in {out}: 2 downloaded (")
    assert lines[1] == f"failed: {missing}"
    skipped = btchannels(*download_args(site, out), "--skip-missing")
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stdout.splitlines() == [f"2 of 3 files verified in {out}: none downloaded, 2 already there",
                                           f"skipped (--skip-missing): {missing}"]


def test_a_bad_range_is_one_line_and_downloads_nothing(site, tmp_path):
    done = btchannels(*download_args(site, tmp_path / "cache", start="2024-01-03", end="2024-01-01"))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "btchannels: --from 2024-01-03 is after --to 2024-01-01\n")
    assert not site.requests and not (tmp_path / "cache").exists()


def test_a_download_killed_mid_file_resumes_without_trusting_the_partial_file(site, tmp_path):
    """kill -9 while the second day streams (the server sends it slowly): its partial file
    is not a download; the rerun fetches the second and third days only, and all verify."""
    site.publish_trades("BTCUSDT", "2024-01-01", generate_trades(1, "2024-01-01", 100))
    site.publish_trades("BTCUSDT", "2024-01-02", generate_trades(101, "2024-01-02", 20_000))  # ~400 KB
    site.publish_trades("BTCUSDT", "2024-01-03", generate_trades(20_101, "2024-01-03", 100))
    site.bytes_per_second = 50_000
    out = tmp_path / "cache"
    day1, day2 = out / DAILY / "BTCUSDT-trades-2024-01-01.zip", out / DAILY / "BTCUSDT-trades-2024-01-02.zip"
    part = day2.with_name(day2.name + ".part")
    run = subprocess.Popen([sys.executable, "-m", "backtrader_channels.cli", *download_args(site, out), "--jobs", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait(timeout=30)
    size = (site.root / "data" / DAILY / day2.name).stat().st_size
    assert run.returncode == -signal.SIGKILL
    assert day1.with_name(day1.name + ".CHECKSUM").is_file()  # the first day was done before the kill
    assert 0 < part.stat().st_size < size and not day2.exists()
    site.bytes_per_second = None
    done = btchannels(*download_args(site, out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"3 of 3 files verified in {out}: 2 downloaded (")
    assert [site.requests[f"{DAILY}/BTCUSDT-trades-2024-01-0{n}.zip"] for n in (1, 2, 3)] == [1, 2, 1]
    assert not list(out.rglob("*.part"))
    for n in (1, 2, 3):
        name = f"BTCUSDT-trades-2024-01-0{n}.zip"
        digest = hashlib.sha256((out / DAILY / name).read_bytes()).hexdigest()
        assert (site.root / "data" / DAILY / f"{name}.CHECKSUM").read_text() == f"{digest}  {name}\n"
