"""TradeIdFilter: trades lost on the way (ccxt's cache overflowed) are gaps, but not missed ones."""

from __future__ import annotations

from backtrader_channels.live.trade_ids import TradeIdFilter


def offer(ids: TradeIdFilter, *trade_ids: int) -> list[bool]:
    return [ids.accept(trade_id, float(trade_id)) for trade_id in trade_ids]


def test_trades_lost_in_the_cache_explain_the_gap_they_leave():
    ids = TradeIdFilter()
    offer(ids, 1, 2, 3)
    ids.lose(4)  # 4..7 arrived, evicted unread
    offer(ids, 8, 9)
    assert (ids.gaps, ids.lost, ids.missed) == (4, 4, 0)


def test_a_gap_wider_than_the_loss_is_missed_for_the_rest():
    ids = TradeIdFilter()
    offer(ids, 1, 2)
    ids.lose(2)
    offer(ids, 10)  # 3..9: 7 ids, 2 of them lost in the cache, 5 never sent
    assert ids.missed == 5


def test_lost_copies_fill_no_gap_and_never_make_missed_negative():
    ids = TradeIdFilter()
    offer(ids, 1, 2, 3, 4, 5)
    ids.lose(3)  # 3, 4, 5 replayed after a reconnect, evicted unread
    offer(ids, 6)
    assert (ids.gaps, ids.missed) == (0, 0)


def test_an_id_offered_once_is_seen_whatever_became_of_its_trade():
    ids = TradeIdFilter()
    assert offer(ids, 1, 2, 3) == [True, True, True]
    assert ids.accept(4, None)  # refused as bad by the feed, but its id was there
    assert not ids.accept(4, None)  # the same bad trade replayed: a duplicate
    assert offer(ids, 5) == [True]
    assert ids.missed == 0
