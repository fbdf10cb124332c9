"""Control commands and what the live engine does with them (no Redis needed here).

A command arrives as ``Event(now, CONTROL, 'control', run, data=ControlCommand)`` on the
run's LiveEventQueue (from the bus: ``ControlFeed``; locally: ``ControlSocket``). CONTROL
sorts before every market event of the same time, and a push wakes a waiting ``pop`` at
once, so a strategy waiting for data is interrupted immediately.

- ``stop``: ``cerebro.runstop()``; the run ends after this event.
- ``pause``: channels, broker matching of working orders and equity go on; strategy
  callbacks (``notify_tick``/``notify_orderbook``/``next``) and order notifications are
  held back, so a paused strategy sends no orders. ``resume`` delivers the held
  notifications and calls the strategy again from the next event.
- ``flatten``: cancel every open order, then close every position at market.

Strategies that define ``notify_control(command)`` see each command (a string) first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..events import Event, EventPriority

__all__ = ["COMMANDS", "CONTROL_CHANNEL", "ControlCommand", "control_event", "handle_control"]

COMMANDS = ("stop", "pause", "resume", "flatten")
CONTROL_CHANNEL = "control"


@dataclass(frozen=True)
class ControlCommand:
    """One command; ``sent_at`` is the sender's clock (epoch seconds), for latency."""

    command: str
    sent_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise ValueError(f"unknown control command {self.command!r}; one of {', '.join(COMMANDS)}")


def control_event(command: ControlCommand, run: str) -> Event:
    """The queue event of ``command``, stamped with the local time of arrival."""
    return Event(time.time(), EventPriority.CONTROL, CONTROL_CHANNEL, run, command)


def handle_control(engine: Any, event: Event) -> bool:
    """Carry out a control event in a live run; True when the run must stop."""
    command = event.data.command
    for strategy in engine._strategies:
        notify = getattr(strategy, "notify_control", None)
        if notify is not None:
            notify(command)
    if command == "stop":
        engine.cerebro.runstop()
    elif command == "pause":
        _pause(engine)
    elif command == "resume":
        _resume(engine)
    elif command == "flatten":
        _flatten(engine)
    return engine.cerebro._event_stop


def _pause(engine: Any) -> None:
    if "_bc_held_callbacks" in vars(engine):
        return
    engine._bc_held_callbacks = (engine._tick_callbacks, engine._book_callbacks, engine._next_callbacks)
    engine._tick_callbacks, engine._book_callbacks, engine._next_callbacks = [], [], []
    engine.deliver_notifications = _hold  # broker notifications wait in broker.notifs


def _hold() -> None:
    """Order notifications stay queued in the broker while paused."""


def _resume(engine: Any) -> None:
    held = vars(engine).pop("_bc_held_callbacks", None)
    if held is None:
        return
    engine._tick_callbacks, engine._book_callbacks, engine._next_callbacks = held
    del engine.deliver_notifications
    if engine.broker.notifs:
        engine.deliver_notifications()


def _flatten(engine: Any) -> None:
    broker = engine.broker
    working = [order for market in engine.markets.values() for order in market.orders]
    working += [order for _, order in broker._incoming]
    for order in working:
        if order.alive():
            broker.cancel(order)
    closer = engine._strategies[0] if engine._strategies else None
    for market in engine.markets.values():
        if closer is not None and broker.getposition(market.data).size:
            closer.close(data=market.data)
    broker.end_step()
    if broker.notifs:
        engine.deliver_notifications()
