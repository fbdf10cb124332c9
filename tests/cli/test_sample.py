"""The synthetic sample market: deterministic files whose trades and book agree at every moment."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

import numpy as np
import pytest

from backtrader_channels import sources
from backtrader_channels.channels import OrderBook
from backtrader_channels.sample import SampleFiles, ensure_sample, generate_sample, sample_market
from backtrader_channels.sources import BookChunk, TradeChunk

START = 1_735_689_600.0  # 2025-01-01T00:00:00Z
NS = 1_000_000_000
UPDATE_NS = 100_000_000


@dataclass
class Replay:
    """What replaying trades against the book (updates first at equal times) found."""

    wrong_price: list = field(default_factory=list)
    too_large: list = field(default_factory=list)
    crossed: list = field(default_factory=list)
    wrong_depth: list = field(default_factory=list)
    no_op_levels: list = field(default_factory=list)
    empty_deltas: list = field(default_factory=list)
    spreads: list = field(default_factory=list)
    sizes_by_rank: list = field(default_factory=list)


def replay(trades: TradeChunk, book: BookChunk, levels: int) -> Replay:
    """Rebuild the book with OrderBook, checking each update and each trade in between."""
    found = Replay()
    ob = OrderBook("BTC/USDT")
    held: tuple[dict, dict] = ({}, {})  # size per price of the bids and asks, 0 once removed
    offsets, sides = book.offsets.tolist(), book.side.tolist()
    prices, sizes = book.price.tolist(), book.size.tolist()
    update_ts = book.ts_ns.tolist()
    trade_ts, trade_price = trades.ts_ns.tolist(), trades.price.tolist()
    trade_size, trade_sell = trades.volume.tolist(), trades.is_sell.tolist()
    first_trade = np.searchsorted(trades.ts_ns, book.ts_ns, "left").tolist() + [len(trades)]
    assert first_trade[0] == 0, "a trade before the first snapshot"
    for u, (ts, snapshot) in enumerate(zip(update_ts, book.is_snapshot.tolist(), strict=True)):
        levels_of = ([], [])
        for i in range(offsets[u], offsets[u + 1]):
            levels_of[sides[i]].append((prices[i], sizes[i]))
        if not snapshot and not levels_of[0] and not levels_of[1]:
            found.empty_deltas.append(u)
        for side in (0, 1):
            if snapshot:
                held[side].clear()
            for price, size in levels_of[side]:
                if held[side].get(price, 0.0) == size:
                    found.no_op_levels.append((u, side, price, size))
                held[side][price] = size
        ob.apply(ts / NS, snapshot, *levels_of)  # raises BookError if a delta crosses the book
        if ob.is_crossed:
            found.crossed.append(u)
        bids, asks = ob.bids, ob.asks
        if len(bids) != levels or len(asks) != levels:
            found.wrong_depth.append((u, len(bids), len(asks)))
        found.spreads.append(round(ob.spread * 100))
        if u % 100 == 0:
            found.sizes_by_rank.append([level.size for level in bids + asks])
        best = {True: ob.best_bid, False: ob.best_ask}
        for t in range(first_trade[u], first_trade[u + 1]):
            touch = best[trade_sell[t]]
            if trade_price[t] != touch.price:
                found.wrong_price.append((t, trade_ts[t], trade_price[t], touch))
            if trade_size[t] > touch.size:
                found.too_large.append((t, trade_size[t], touch))
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> SampleFiles:
    return generate_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def market() -> tuple[TradeChunk, BookChunk]:
    return sample_market()


@pytest.fixture(scope="module")
def replayed(market) -> Replay:
    return replay(*market, levels=20)


def test_files_are_named_and_byte_identical_for_a_seed(files, tmp_path):
    assert files.trades.name == "BTCUSDT-sample-trades.csv.gz"
    assert files.book.name == "BTCUSDT-sample-book.jsonl.gz"
    again = generate_sample(tmp_path)
    for first, second in ((files.trades, again.trades), (files.book, again.book)):
        first_bytes, second_bytes = first.read_bytes(), second.read_bytes()
        assert gzip.decompress(first_bytes) == gzip.decompress(second_bytes), first.name
        assert first_bytes == second_bytes, f"{first.name}: same content, other gzip bytes"


def test_other_seeds_give_other_markets():
    one, other = sample_market(duration=60.0), sample_market(seed=8, duration=60.0)
    assert not np.array_equal(one[0].price, other[0].price)


def test_files_hold_the_market(files, market):
    trades, book = market
    with gzip.open(files.trades, "rt") as text:
        lines = text.read().splitlines()
    assert lines[0] == "timestamp,price,volume,direction,trade_id,symbol"
    assert lines[1].endswith(",BTC/USDT") and len(lines) == len(trades) + 1
    with gzip.open(files.book, "rt") as text:
        lines = text.read().splitlines()
    assert len(lines) == len(book)
    assert lines[0].startswith('{"timestamp": 1735689600.000, "type": "snapshot", "bids": [[')
    assert all('"type": "delta"' in line for line in lines[1:])


def _assert_chunks_equal(chunks: list, expected: tuple) -> None:
    assert len(chunks) >= 1
    for name, column in expected._asdict().items():
        if name != "offsets":  # chunk-relative
            read = np.concatenate([getattr(chunk, name) for chunk in chunks])
            np.testing.assert_array_equal(read, column, err_msg=name)


@pytest.mark.skipif(not hasattr(sources, "open_trades"), reason="no trades reader yet")
def test_trades_reader_reads_back_the_trades(files, market):
    chunks = list(sources.open_trades(files.trades, symbol="BTC/USDT").chunks())
    _assert_chunks_equal(chunks, market[0])


@pytest.mark.skipif(not hasattr(sources, "open_book"), reason="no book reader yet")
def test_book_reader_reads_back_the_book(files, market):
    chunks = list(sources.open_book(files.book).chunks())
    _assert_chunks_equal(chunks, market[1])
    sizes = np.concatenate([np.diff(chunk.offsets) for chunk in chunks])
    np.testing.assert_array_equal(sizes, np.diff(market[1].offsets))


def test_every_trade_prints_at_the_touch_in_effect_and_fits_in_it(replayed):
    assert replayed.wrong_price == []
    assert replayed.too_large == []


def test_book_is_never_crossed_and_keeps_its_depth(replayed):
    assert replayed.crossed == []
    assert replayed.wrong_depth == []


def test_deltas_change_only_what_changes(replayed):
    assert replayed.empty_deltas == []
    assert replayed.no_op_levels == []


def test_one_snapshot_then_deltas_on_the_100ms_grid(market):
    _, book = market
    start_ns = round(START * NS)
    assert book.is_snapshot[0] and not book.is_snapshot[1:].any()
    assert book.ts_ns[0] == start_ns and book.ts_ns[-1] < start_ns + 3600 * NS
    steps = np.diff(book.ts_ns)
    assert (steps > 0).all() and (steps % UPDATE_NS == 0).all()
    assert len(book) > 0.7 * 36_000  # an interval is skipped only when nothing changed
    assert np.median(np.diff(book.offsets)[1:]) <= 40  # deltas, not whole books


def test_trades_have_consecutive_ids_and_times_inside_the_hour(market):
    trades, _ = market
    assert 20_000 <= len(trades) <= 60_000
    assert (np.diff(trades.trade_id) == 1).all()
    start_ns = round(START * NS)
    assert trades.ts_ns[0] >= start_ns and trades.ts_ns[-1] < start_ns + 3600 * NS
    assert (np.diff(trades.ts_ns) >= 0).all()
    assert (trades.volume >= 0.00001).all()
    lots = trades.volume * 100_000
    assert (np.abs(lots - np.rint(lots)) < 1e-6).all()  # whole multiples of 0.00001 BTC
    assert 0.4 < trades.is_sell.mean() < 0.6


def test_the_market_looks_like_btc(market, replayed):
    trades, book = market
    prices = trades.price
    assert (np.abs(prices * 100 - np.rint(prices * 100)) < 1e-6).all()  # 0.01 ticks
    assert prices.min() > 90_000 and prices.max() < 98_000
    minute_ends = np.searchsorted(trades.ts_ns, round(START * NS) + np.arange(1, 61) * 60 * NS)
    hourly_vol = np.diff(np.log(prices[minute_ends - 1])).std() * np.sqrt(60)
    assert 0.003 <= hourly_vol <= 0.008
    per_second = np.bincount((trades.ts_ns - round(START * NS)) // NS, minlength=3600)
    assert (per_second == 0).mean() > 0.05  # quiet stretches...
    assert per_second.max() > 5 * per_second.mean()  # ...and bursts
    spreads = np.array(replayed.spreads)
    assert spreads.min() >= 1 and (spreads == 1).mean() > 0.5 and np.median(spreads) <= 3
    assert book.size[book.size > 0].min() >= 0.001 and book.size.max() <= 5.0
    ranks = np.array(replayed.sizes_by_rank)
    bid_median = np.median(ranks[:, :20], axis=0)
    assert bid_median[-5:].mean() > 2 * bid_median[1:6].mean()  # larger deeper


def test_custom_parameters(tmp_path):
    start, duration = 1_700_000_000.25, 12.345
    trades, book = sample_market(seed=3, duration=duration, start=start, levels=5)
    start_ns = round(start * NS)
    assert book.ts_ns[0] == start_ns and book.ts_ns[-1] < start_ns + round(duration * NS)
    assert trades.ts_ns.min() >= start_ns and trades.ts_ns.max() < start_ns + round(duration * NS)
    found = replay(trades, book, levels=5)
    assert found.wrong_price == found.too_large == found.wrong_depth == found.no_op_levels == []
    trades, book = sample_market(duration=0.05, levels=1)  # shorter than one update interval
    assert (
        len(book) == 1
        and len(book.price) == 2
        and (len(trades) == 0 or trades.ts_ns[-1] < START * NS + 5e7)
    )
    files = generate_sample(tmp_path, duration=1.0, symbol="ETH/USDT", levels=3)
    assert files.trades.name == "ETHUSDT-sample-trades.csv.gz" and files.book.exists()


def test_ensure_sample_generates_only_missing_files(tmp_path):
    made = ensure_sample(tmp_path, duration=30.0)
    stamp = made.trades.stat().st_mtime_ns, made.book.stat().st_mtime_ns
    assert ensure_sample(tmp_path, duration=30.0) == made
    assert (made.trades.stat().st_mtime_ns, made.book.stat().st_mtime_ns) == stamp
    made.book.unlink()
    assert ensure_sample(tmp_path, duration=30.0).book.exists()


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="duration"):
        sample_market(duration=0)
    with pytest.raises(ValueError, match="levels"):
        sample_market(levels=0)
