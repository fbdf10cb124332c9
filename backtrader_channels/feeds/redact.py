"""Keeping API keys, secrets and request signatures out of log lines and feed errors.

ccxt puts the full request URL in its error messages, and a signed Binance URL carries
``signature=...``; a feed configured with ``apiKey``/``secret`` registers them here, and
every line the feeds log, and every error a feed ends with, goes through ``redact``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["RedactingFilter", "redact", "redact_error", "redact_library_logs", "redacted_print", "register_secrets"]

MASK = "***"
SECRET_KEYS = ("apiKey", "secret", "password", "uid", "privateKey", "token")
_SIGNED = re.compile(r"((?:signature|apiKey|api_key|X-MBX-APIKEY)['\"]?\s*[=:]\s*['\"]?)[^&\s'\",}]+", re.IGNORECASE)
_secrets: set[str] = set()


def register_secrets(config: Mapping[str, Any]) -> None:
    """Remember the credentials in an exchange ``config`` so ``redact`` masks them."""
    for key in SECRET_KEYS:
        value = config.get(key)
        if isinstance(value, str) and len(value) >= 4:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with registered credentials and any ``signature=``/API-key value masked."""
    text = _SIGNED.sub(r"\1" + MASK, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_error(error: BaseException) -> BaseException:
    """Mask credentials in ``error``'s message, in place (its type and traceback stay)."""
    args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in error.args)
    if args != error.args:
        error.args = args
    return error


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def redacted_print(*args: Any) -> None:
    """``print`` with credentials masked: ccxt's ``log``, which its ``verbose`` mode prints
    request headers (the API key) and signed URLs with."""
    print(*(redact(str(arg)) for arg in args))


LIBRARY_LOGGERS = ("ccxt.base.exchange", "ccxt")  # ccxt's verbose log prints request headers (the API key)


def redact_library_logs() -> None:
    """Mask credentials in the log lines ccxt itself writes (once per logger)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
