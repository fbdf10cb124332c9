"""download() against a local data.binance.vision: verified files, mixing periods, refusals, resume."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from backtrader_channels.download import DownloadFailed, download, download_report
from backtrader_channels.sources import open_trades
from backtrader_channels.testing import generate_trades

from .conftest import DAILY, MONTHLY, publish_days


def loaded(files) -> dict[str, np.ndarray]:
    """The trades of ``files`` read in order by the project's loader, as columns."""
    chunks = [chunk for path in files for chunk in open_trades(path, symbol="BTC/USDT").chunks()]
    return {name: np.concatenate([getattr(c, name) for c in chunks])
            for name in ("ts_ns", "price", "volume", "is_sell", "trade_id")}


def expected(trades) -> dict[str, np.ndarray]:
    return {"ts_ns": np.array([t.time_ms * 1_000_000 for t in trades]),
            "price": np.array([t.price for t in trades]),
            "volume": np.array([t.qty for t in trades]),
            "is_sell": np.array([t.is_buyer_maker for t in trades]),  # the buyer made: a seller took
            "trade_id": np.array([t.id for t in trades])}


def assert_same_trades(files, trades) -> None:
    got, want = loaded(files), expected(trades)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_a_range_of_days_is_downloaded_verified_and_loads_as_the_trades_published(site, tmp_path):
    published = publish_days(site, "2024-01-01", 3)
    out = tmp_path / "cache"
    files = download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-03", out=out, base_url=site.url)
    names = [f"BTCUSDT-trades-2024-01-0{n}.zip" for n in (1, 2, 3)]
    assert files == [out / DAILY / name for name in names]
    for path in files:
        source = site.root / "data" / DAILY / path.name
        assert path.read_bytes() == source.read_bytes()
        assert path.with_name(path.name + ".CHECKSUM").read_text() == \
            f"{hashlib.sha256(source.read_bytes()).hexdigest()}  {path.name}\n"
    assert sorted(p.name for p in (out / DAILY).iterdir()) == sorted([*names, *(n + ".CHECKSUM" for n in names)])
    assert_same_trades(files, [t for day in published.values() for t in day])
    assert site.requests == {f"{DAILY}/{name}{suffix}": 1 for name in names for suffix in ("", ".CHECKSUM")}


def test_whole_months_are_fetched_as_monthly_files_between_daily_ones(site, tmp_path):
    jan31 = generate_trades(1, "2024-01-31", 100)
    february = [t for n, day in enumerate(["2024-02-01", "2024-02-15", "2024-02-29"])
                for t in generate_trades(101 + 100 * n, day, 100, seed=n)]
    march1 = generate_trades(401, "2024-03-01", 100)
    site.publish_trades("BTCUSDT", "2024-01-31", jan31)
    site.publish_trades("BTCUSDT", "2024-02", february)
    site.publish_trades("BTCUSDT", "2024-03-01", march1)
    out = tmp_path / "cache"
    files = download("BTC/USDT", "trades", start="2024-01-31", end="2024-03-01", out=out, base_url=site.url)
    assert files == [out / DAILY / "BTCUSDT-trades-2024-01-31.zip", out / MONTHLY / "BTCUSDT-trades-2024-02.zip",
                     out / DAILY / "BTCUSDT-trades-2024-03-01.zip"]
    assert_same_trades(files, jan31 + february + march1)  # ids 1..500 in order across the three files
    assert not any(path.startswith(DAILY + "/BTCUSDT-trades-2024-02") for path in site.requests)


def test_a_month_not_published_yet_is_fetched_day_by_day(site, tmp_path):
    published = publish_days(site, "2024-02-01", 29, trades=20)  # February's monthly file is not there
    report = download_report("BTC/USDT", "trades", start="2024-02-01", end="2024-02-29", out=tmp_path / "cache",
                             base_url=site.url)
    assert report.failures == [] and report.fetched == 29
    assert [path.name for path in report.files] == [f"BTCUSDT-trades-{day}.zip" for day in published]
    assert site.requests[f"{MONTHLY}/BTCUSDT-trades-2024-02.zip.CHECKSUM"] == 1
    assert_same_trades(report.files, [t for day in published.values() for t in day])


def test_a_checksum_mismatch_keeps_nothing_of_that_day_and_names_it(site, tmp_path):
    publish_days(site, "2024-01-01", 3)
    site.publish_trades("BTCUSDT", "2024-01-02", generate_trades(201, "2024-01-02", 200), checksum="ab" * 32)
    out = tmp_path / "cache"
    with pytest.raises(DownloadFailed) as raised:
        download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-03", out=out, base_url=site.url)
    text = str(raised.value)
    assert text.startswith("BTCUSDT-trades-2024-01-02.zip: checksum mismatch (sha256 ")
    assert f"its .CHECKSUM says {'ab' * 32}): not kept at {site.url}/data/{DAILY}/BTCUSDT-trades-2024-01-02.zip" \
        in text
    assert raised.value.report.fetched == 2
    assert sorted(p.name for p in (out / DAILY).iterdir()) == [
        "BTCUSDT-trades-2024-01-01.zip", "BTCUSDT-trades-2024-01-01.zip.CHECKSUM",
        "BTCUSDT-trades-2024-01-03.zip", "BTCUSDT-trades-2024-01-03.zip.CHECKSUM"]  # no .part, nothing of the 2nd


def test_a_day_not_published_is_named_and_fails_the_download_unless_skipped(site, tmp_path):
    published = publish_days(site, "2024-01-01", 3)
    (site.root / "data" / DAILY / "BTCUSDT-trades-2024-01-02.zip").unlink()
    (site.root / "data" / DAILY / "BTCUSDT-trades-2024-01-02.zip.CHECKSUM").unlink()
    out = tmp_path / "cache"
    with pytest.raises(DownloadFailed) as raised:
        download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-03", out=out, base_url=site.url)
    assert str(raised.value) == (f"BTCUSDT-trades-2024-01-02.zip: not published (404) at "
                                 f"{site.url}/data/{DAILY}/BTCUSDT-trades-2024-01-02.zip")
    assert [p.name for p in raised.value.report.files] == ["BTCUSDT-trades-2024-01-01.zip",
                                                            "BTCUSDT-trades-2024-01-03.zip"]
    report = download_report("BTC/USDT", "trades", start="2024-01-01", end="2024-01-03", out=out,
                             base_url=site.url, skip_missing=True)
    assert report.failures == [] and [f.file.name for f in report.skipped] == ["BTCUSDT-trades-2024-01-02.zip"]
    assert report.reused == 2 and report.fetched == 0
    assert_same_trades(report.files, published["2024-01-01"] + published["2024-01-03"])


def test_verified_files_are_not_fetched_again_and_a_file_put_there_by_hand_is_verified_in_place(site, tmp_path):
    publish_days(site, "2024-01-01", 3)
    out = tmp_path / "cache"
    first = download_report("BTC/USDT", "trades", start="2024-01-01", end="2024-01-02", out=out, base_url=site.url)
    assert (first.fetched, first.reused) == (2, 0)
    by_hand = out / DAILY / "BTCUSDT-trades-2024-01-03.zip"  # as `wget` would leave it: no .CHECKSUM beside
    by_hand.write_bytes((site.root / "data" / DAILY / by_hand.name).read_bytes())
    before = site.requests.copy()
    again = download_report("BTC/USDT", "trades", start="2024-01-01", end="2024-01-03", out=out, base_url=site.url)
    assert (again.fetched, again.reused, again.failures) == (0, 3, [])
    assert site.requests - before == {f"{DAILY}/BTCUSDT-trades-2024-01-03.zip.CHECKSUM": 1}  # only its checksum
    assert by_hand.with_name(by_hand.name + ".CHECKSUM").is_file()


def test_a_partial_file_left_by_a_killed_run_is_overwritten_not_trusted(site, tmp_path):
    published = publish_days(site, "2024-01-01", 1)
    out = tmp_path / "cache"
    part = out / DAILY / "BTCUSDT-trades-2024-01-01.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"PK\x03\x04 half a zip")
    files = download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-01", out=out, base_url=site.url)
    assert not part.exists()
    assert_same_trades(files, published["2024-01-01"])


def test_the_cache_directory_defaults_to_btchannels_data(site, tmp_path, monkeypatch):
    publish_days(site, "2024-01-01", 1)
    monkeypatch.setenv("BTCHANNELS_DATA", str(tmp_path / "shared"))
    [path] = download("BTC/USDT", start="2024-01-01", end="2024-01-01", base_url=site.url)
    assert path == tmp_path / "shared" / DAILY / "BTCUSDT-trades-2024-01-01.zip"


def test_a_busy_server_is_asked_again(site, tmp_path):
    published = publish_days(site, "2024-01-01", 1)
    zip_path = f"{DAILY}/BTCUSDT-trades-2024-01-01.zip"
    site.unavailable.update({zip_path: 2, zip_path + ".CHECKSUM": 1})
    files = download("BTC/USDT", start="2024-01-01", end="2024-01-01", out=tmp_path / "cache", base_url=site.url)
    assert site.requests == {zip_path: 3, zip_path + ".CHECKSUM": 2}  # the third try of the zip got it
    assert_same_trades(files, published["2024-01-01"])
    site.unavailable[zip_path.replace("01-01", "01-02")] = 3
    publish_days(site, "2024-01-02", 1)
    with pytest.raises(DownloadFailed, match=r"^BTCUSDT-trades-2024-01-02.zip: HTTP 503 Slow Down after 3 attempts"):
        download("BTC/USDT", start="2024-01-02", end="2024-01-02", out=tmp_path / "cache", base_url=site.url)


def test_the_progress_bar_counts_files_and_bytes(site, tmp_path, capsys):
    publish_days(site, "2024-01-01", 3)
    size = sum(p.stat().st_size for p in (site.root / "data" / DAILY).glob("*.zip"))
    download("BTC/USDT", start="2024-01-01", end="2024-01-03", out=tmp_path / "cache", base_url=site.url,
             progress=True)
    last = capsys.readouterr().err.split("\r")[-1]
    assert last.startswith("3/3 files: 100%")
    assert f"{size / 1024:.1f}k/{size / 1024:.1f}k" in last


def test_an_output_directory_that_cannot_be_written_fails_each_file_by_name(site, tmp_path):
    publish_days(site, "2024-01-01", 1)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(DownloadFailed) as raised:
        download("BTC/USDT", start="2024-01-01", end="2024-01-01", out=blocker, base_url=site.url)
    assert str(raised.value).startswith(f"BTCUSDT-trades-2024-01-01.zip: cannot write {blocker}")
    assert site.requests == {f"{DAILY}/BTCUSDT-trades-2024-01-01.zip.CHECKSUM": 1}
