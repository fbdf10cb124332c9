"""The adversarial strategies generate what they claim: one bad field per bad trade, with its cause."""

from __future__ import annotations

import json
import math
import zipfile

from hypothesis import HealthCheck, given, settings

from backtrader_channels.testing.adversarial import (
    Frame,
    TradeCase,
    bad_book_levels,
    binance_trade_frames,
    binance_trade_payload,
    binance_trades_csv,
    trade_cases,
    zip_without_newline,
)


def _cause_of(text: object, *, price: bool) -> str | None:
    """An independent reading of one field: the cause it must be refused for, or None."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unparseable"
    if not math.isfinite(value):
        return "nan_or_inf"
    if price and value <= 0:
        return "invalid_price"
    if not price and value <= 0:
        return "invalid_volume"
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_cases(first_id=100))
def test_trade_cases_have_consecutive_ids_and_one_cause_each(cases: list[TradeCase]) -> None:
    assert [case.trade_id for case in cases] == list(range(100, 100 + len(cases)))
    assert all(a.time_ms <= b.time_ms for a, b in zip(cases, cases[1:]))
    for case in cases:
        causes = [c for c in (_cause_of(case.price, price=True), _cause_of(case.size, price=False)) if c]
        assert causes == ([case.cause] if case.cause else [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_book_levels())
def test_bad_book_levels_name_the_cause_of_their_one_bad_field(level_and_cause: tuple[list, str]) -> None:
    (price, size), cause = level_and_cause
    price_cause = _cause_of(price, price=True)
    size_cause = _cause_of(size, price=False)
    if size_cause == "invalid_volume" and float(size) == 0:
        size_cause = None  # a book size of 0 removes the level: good
    assert [c for c in (price_cause, size_cause) if c] == [cause]


@settings(max_examples=60)
@given(binance_trade_frames(max_junk=3))
def test_trade_frames_keep_the_trades_in_order_with_junk_counted_unparseable(frames: list[Frame]) -> None:
    trades = [frame.trade for frame in frames if frame.trade is not None]
    assert [case.trade_id for case in trades] == list(range(1, len(trades) + 1))
    for frame in frames:
        if frame.trade is None:
            assert frame.cause == "unparseable"
        else:
            assert json.loads(frame.text) == binance_trade_payload(frame.trade)
            assert frame.cause == frame.trade.cause
    assert len(frames) - len(trades) <= 3


def test_trades_csv_writes_one_binance_row_per_case() -> None:
    cases = [TradeCase(7, "100.5", "0.25", 1_700_000_000_000, True, None), TradeCase(8, None, "1", 1_700_000_000_001, False, "unparseable")]
    assert binance_trades_csv(cases) == "7,100.5,0.25,0,1700000000000,true,true\n8,,1,0,1700000000001,false,true\n"


def test_zip_without_newline_is_small_on_disk_and_inflates_to_the_size_asked(tmp_path) -> None:
    path = zip_without_newline(tmp_path / "BTCUSDT-trades-2024-01-01.zip", "BTCUSDT-trades-2024-01-01.csv",
                               50 << 20, head=b"1,2")
    assert path.stat().st_size < 200_000
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("BTCUSDT-trades-2024-01-01.csv")
        assert info.file_size == (50 << 20) + 3
        with archive.open(info) as member:
            assert member.read(5) == b"1,2aa"
