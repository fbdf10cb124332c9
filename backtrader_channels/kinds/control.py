"""The control kind: commands to a running strategy (``stop``, ``pause``, ``resume``, ``flatten``).

A command arrives as ``Event(now, CONTROL, 'control', run, data=ControlCommand)`` on the
run's LiveEventQueue (over the bus: ``bus.ControlFeed``; locally: ``bus.ControlSocket``).
Commands have a lane of their own there: they pop before every queued market event,
whatever the times, the live loop handles one right after the event in hand (a backlog
waits), and a push wakes a waiting ``pop`` at once, so a strategy waiting for data is
interrupted immediately. Commands are not market data: the validator never refuses them
and they have no market.

- ``stop``: ``cerebro.runstop()``; the run ends after this event, and notifications a pause
  held back are delivered before the strategies' ``stop()``.
- ``pause``: channels, broker matching of working orders and equity go on; strategy
  callbacks and order notifications are held back, so a paused strategy sends no orders.
  ``resume`` delivers the held notifications and calls the strategy again from the next event.
- ``flatten``: cancel every open order, then close every position at market.

Strategies that define ``notify_control(command)`` see each command (a string) first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..channels.base import Channel
from ..events import Event, EventPriority
from .base import Codec, Kind, Step

__all__ = ["COMMANDS", "CONTROL", "ControlChannel", "ControlCommand", "ControlStep", "control_event"]

COMMANDS = ("stop", "pause", "resume", "flatten")


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
    return CONTROL.event(command, run, time.time())


class ControlChannel(Channel):
    """The commands a run received; ``latest`` is the last ``ControlCommand``."""


class ControlStep(Step):
    """A command: ``notify_control`` (even while paused), then the run carries it out."""

    channel: ControlChannel

    def take(self, data: ControlCommand) -> bool:
        context = self.context
        self.channel.append(data)
        command = data.command
        for strategy in context.strategies:
            notify = getattr(strategy, "notify_control", None)
            if notify is not None:
                notify(command)
        if command == "stop":
            context.stop()
        elif command == "pause":
            context.pause()
        elif command == "resume":
            context.resume()
        else:
            context.flatten()
        return context.stopping


def _encode(command: ControlCommand) -> tuple:
    return (command.sent_at, command.command)


def _decode(fields: Sequence[Any], symbol: str | None) -> ControlCommand:
    sent_at, command = fields
    return ControlCommand(str(command), float(sent_at))


# on the wire: [3, sent_at, command]
CONTROL = Kind("control", EventPriority.CONTROL, ControlChannel, ControlStep, None, events=(ControlCommand,),
               codec=Codec(3, _encode, _decode), market_data=False)
