"""LiveDataValidator against restarted trade ids, future stamps, and the seed's report key."""

from __future__ import annotations

from backtrader_channels.live import LiveDataValidator
from tests.phase4.test_live_validator import KEY, tick


def test_a_restarted_trade_id_is_a_reset_not_a_duplicate():
    validator = LiveDataValidator()
    for trade_id in (1, 2, 3):
        assert validator.validate(tick(100.0 + trade_id, trade_id=trade_id))
    assert not validator.validate(tick(103.0, trade_id=3))  # trade 3 replayed: a duplicate
    assert validator.validate(tick(200.0, trade_id=1))  # ids start again: another trade
    assert validator.validate(tick(201.0, trade_id=2))
    assert validator.validate(tick(202.0, trade_id=3))
    assert not validator.validate(tick(202.0, trade_id=3))
    assert validator.get_anomaly_report() == {KEY: {"duplicate_trade_id": 2, "trade_id_reset": 1}}


def test_a_timestamp_ahead_of_its_receive_time_is_invalid_within_a_tolerance():
    validator = LiveDataValidator(max_clock_skew=2.0)
    assert validator.validate(tick(1000.0, recv=1000.5))
    assert validator.validate(tick(1001.9, recv=1000.0))  # 1.9 s ahead: clock skew, tolerated
    assert not validator.validate(tick(1000.0 + 86400, recv=1001.0))
    assert validator.validate(tick(1002.0, recv=1002.1))  # the clock did not move
    assert validator.get_anomaly_report() == {KEY: {"invalid_timestamp": 1, "invalid_data": 1}}
    assert validator.total() == 1
