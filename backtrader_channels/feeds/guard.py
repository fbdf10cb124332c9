"""Creating ccxt.pro exchanges whose WebSocket message handling cannot be killed by one frame.

In ccxt (measured with 4.5.90) an exception while handling one inbound frame (invalid JSON,
or a message missing a field the exchange handler indexes) is raised inside the client's
receive-loop callback: the loop is never rescheduled and every pending ``watch_*`` waits
forever on a socket that is still open. The guarded exchange wraps each client's frame
handler so that such a frame is reported to a callback and skipped, and the stream goes on.
Frames that parse but hold no message (``[]``, ``{}``, ``null``, a bare string or number),
which ccxt would ignore without a trace, are reported the same way, and so is a message the
feed's ``check`` refuses (a ``Refused`` error naming its cause) before ccxt applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import ccxt.pro

from .redact import redacted_print

__all__ = ["BadMessageHandler", "MessageCheck", "Refused", "create_exchange"]

BadMessageHandler = Callable[[Any, Exception], None]


class Refused(ValueError):
    """A message or data refused as bad; ``cause`` is what it is counted under (``BAD_CAUSES``)."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


MessageCheck = Callable[[Any], "Refused | None"]


def create_exchange(
    exchange_id: str, config: Mapping[str, Any] | None = None, on_bad_message: BadMessageHandler | None = None,
    check: MessageCheck | None = None,
) -> Any:
    """A ``ccxt.pro.<exchange_id>(config)``, guarded when ``on_bad_message`` is given (each
    parsed message first goes through ``check``, if any: a ``Refused`` one is reported and
    dropped); its ``verbose`` output, if asked for, has credentials masked."""
    try:
        exchange_class = getattr(ccxt.pro, exchange_id)
    except AttributeError:
        raise ValueError(f"ccxt.pro has no exchange {exchange_id!r}") from None
    exchange = (exchange_class if on_bad_message is None else _guarded(exchange_class))(dict(config or {}))
    exchange.log = redacted_print  # ccxt's verbose output: no key or signature printed
    if on_bad_message is not None:
        exchange.on_bad_message = on_bad_message
        exchange.check_message = check
    return exchange


@cache
def _guarded(exchange_class: type[Any]) -> type:
    def client(self: Any, url: str) -> Any:
        ws_client = exchange_class.client(self, url)
        if "handle_text_or_binary_message" not in vars(ws_client):
            handle = ws_client.handle_text_or_binary_message
            report = self.on_bad_message

            def guarded(data: Any) -> None:
                try:
                    handle(data)
                except Exception as error:  # one bad frame must not end the receive loop
                    report(data, error)

            ws_client.handle_text_or_binary_message = guarded
        return ws_client

    def handle_message(self: Any, ws_client: Any, message: Any) -> Any:
        if not message or not isinstance(message, (dict, list)):
            self.on_bad_message(message, ValueError("a frame with no message in it"))
            return None
        refused = None if self.check_message is None else self.check_message(message)
        if refused is not None:
            self.on_bad_message(message, refused)
            return None
        return exchange_class.handle_message(self, ws_client, message)

    members = {"client": client, "handle_message": handle_message}
    return type(f"Guarded{exchange_class.__name__}", (exchange_class,), members)
