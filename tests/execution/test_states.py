"""The live order state machine: what may move an order where."""

from __future__ import annotations

import pytest

from backtrader_channels.execution import LiveOrder, OrderState, TransitionRefused
from backtrader_channels.execution.states import state_of_status


def order() -> LiveOrder:
    return LiveOrder("runx1", "BTC/USDT", "buy", "limit", 0.1, 49_000.0)


def test_an_unknown_create_can_only_be_settled_by_the_exchange_word():
    live = order()
    assert live.move(OrderState.UNKNOWN) is True
    assert live.move(OrderState.UNKNOWN) is False  # told twice: no change
    with pytest.raises(TransitionRefused, match="runx1: unknown -> pending_new is not allowed"):
        live.move(OrderState.PENDING_NEW)
    assert live.move(OrderState.OPEN) and live.move(OrderState.PENDING_CANCEL) and live.move(OrderState.FILLED)
    assert live.final


@pytest.mark.parametrize("final", [OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED])
def test_a_final_order_never_moves_again(final):
    live = order()
    live.move(final)
    assert live.move(final) is False
    for state in OrderState:
        if state is not final:
            with pytest.raises(TransitionRefused):
                live.move(state)


def test_ccxt_statuses_map_to_states_and_unknown_words_are_refused():
    assert [state_of_status(s) for s in ("open", "closed", "canceled", "expired", "rejected", "margin", "unknown")] == [
        OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED,
        OrderState.REJECTED, OrderState.UNKNOWN]
    with pytest.raises(ValueError, match="order status 'pending' is not one of"):
        state_of_status("pending")
