"""The command line's one error path: which errors are the user's to fix (one line, exit 2)
and which are bugs (a traceback, then a request to report it), and argument types that
refuse nonsense while the command line is parsed.

``btchannels`` exit statuses: 0 done; 1 done, and the result says something failed (replay
diverged, validate rejected rows, a live feed failed, sweep jobs failed); 2 a user error
(this module); 130 a sweep cancelled with Ctrl-C; ``BUG_EXIT`` a bug in btchannels.
"""

from __future__ import annotations

import argparse
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TextIO

from .extras import EXTRA_OF, install_hint

__all__ = ["BUG_EXIT", "REPORT", "USER_EXIT", "UserError", "as_user_error", "report_errors", "strategy_location"]

USER_EXIT = 2
BUG_EXIT = 70  # EX_SOFTWARE of sysexits.h: an internal error
PACKAGE_DIR = Path(__file__).resolve().parent
REPORT = ("btchannels: this is a bug in btchannels, not in your input: please report it with the "
          "command line and the traceback above")


class UserError(Exception):
    """Something the user can fix: ``what`` is at fault (a file, a parameter, a server),
    ``why`` says how (None: ``what`` says both, as the library's error messages do).
    Printed as ``btchannels: <what>: <why>``, exit status 2."""

    def __init__(self, what: str, why: str | None = None) -> None:
        super().__init__(what if why is None else f"{what}: {why}")


def as_user_error(error: BaseException, strategy_file: Path | None = None) -> UserError | None:
    """``error`` as a ``UserError`` when the user can fix what caused it, else None (a bug).

    User errors: ``UserError``; a missing optional package (an ``ImportError`` naming one,
    from ``missing_extra`` or a bare import); an ``OSError`` naming a file (a user's path);
    Redis unreachable; the exchange refusing a symbol or the keys, or unreachable; and a
    ``ValueError`` or an ``OSError`` raised by this package.

    A ``ValueError`` is decided by where it was raised. By a ``raise`` in this package (the
    innermost frame of its traceback is ours) it is the library refusing its input, which
    is how the library reports bad input: ``SourceError`` (a data file, naming file, line
    and field), ``BookError``, ``StrategyFileError``, ``CodecError``, ``OrderParamsError``
    and the API's checks of its arguments; when it came through the strategy file (a call
    with bad parameters) the message is prefixed with the strategy's line. Raised
    inside Python, numpy, backtrader or another library, it is a value our code passed on
    unchecked: a bug. The same holds for an ``OSError`` without a file name: ours name the
    path in their message (``out/x.csv: a folder, not a file to write``).
    """
    if isinstance(error, UserError):
        return error
    if isinstance(error, ImportError):
        return _missing_package(error)
    if isinstance(error, OSError) and error.filename is not None:
        return UserError(str(error.filename), error.strerror or str(error))
    if isinstance(error, (ValueError, OSError)) and _raised_in_package(error.__traceback__):
        location = strategy_location(error, strategy_file)
        return UserError(str(error)) if location is None else UserError(location, str(error))
    return _service_error(error)


def _missing_package(error: ImportError) -> UserError | None:
    """A missing optional package, with the extra that brings it; None for any other import.
    ``missing_extra``'s message (what needs the package) is kept as it is."""
    module = (error.name or "").partition(".")[0]
    if module not in EXTRA_OF:
        return None
    hint = install_hint(EXTRA_OF[module])
    text = str(error)
    return UserError(text) if "pip install 'backtrader-channels[" in text else UserError(f"{module} is not installed", hint)


def _service_error(error: BaseException) -> UserError | None:
    """Redis or the exchange unreachable or refusing what was asked (their packages are
    looked at only when loaded: an error cannot come from a package that is not)."""
    redis = sys.modules.get("redis.exceptions")
    if redis is not None and isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return UserError("Redis", str(error))
    ccxt = sys.modules.get("ccxt.base.errors")
    if ccxt is not None:
        for kind, what in ((ccxt.BadSymbol, "unknown symbol"), (ccxt.AuthenticationError, "keys refused"),
                           (ccxt.PermissionDenied, "keys refused"), (ccxt.NetworkError, "exchange unreachable")):
            if isinstance(error, kind):
                return UserError(what, f"{type(error).__name__}: {error}")
    return None


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    return frames


def _raised_in_package(tb: TracebackType | None) -> bool:
    frames = _frames(tb)
    return bool(frames) and Path(frames[-1].tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE_DIR)


def _strategy_frames(error: BaseException, strategy_file: Path | None) -> list[TracebackType]:
    if strategy_file is None:
        return []
    target = str(strategy_file.resolve())
    return [tb for tb in _frames(error.__traceback__)
            if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == target]


def strategy_location(error: BaseException, strategy_file: Path | None) -> str | None:
    """``'FILE, line N'``: the innermost line of the strategy file that ``error`` went
    through (None when it did not come through the strategy)."""
    frames = _strategy_frames(error, strategy_file)
    return f"{strategy_file}, line {frames[-1].tb_lineno}" if frames else None


def report_errors(command: Callable[[], int], strategy_file: Path | None = None,
                  stream: TextIO | None = None) -> int:
    """Run ``command``; its exit status, or that of the error it raised, reported on
    ``stream`` (stderr): a user error in one line (2); an exception that came through the
    strategy file and was raised outside this package (by the strategy's code or a library
    it called), with its traceback from the strategy on and its location (2); anything else
    with its whole traceback and a request to report the bug (``BUG_EXIT``)."""
    stream = stream or sys.stderr
    try:
        return command()
    except Exception as error:  # noqa: BLE001 - the one place that decides what the user sees
        user = as_user_error(error, strategy_file)
        if user is not None:
            print("btchannels: " + " ".join(str(user).splitlines()), file=stream)
            return USER_EXIT
        frames = _strategy_frames(error, strategy_file)
        if frames and not _raised_in_package(error.__traceback__):  # the strategy's own error
            traceback.print_exception(type(error), error, frames[0], file=stream)
            print(f"btchannels: {strategy_location(error, strategy_file)}: the strategy raised "
                  f"{type(error).__name__}: {error}", file=stream)
            return USER_EXIT
        traceback.print_exception(type(error), error, error.__traceback__, file=stream)
        print(REPORT, file=stream)
        return BUG_EXIT


# --- argument types: nonsense is refused while parsing, naming the parameter ------------------


def _number(text: str, kind: Callable[[str], float], ok: Callable[[float], bool], wanted: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{wanted}, not {text!r}") from None
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"{wanted}, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (a duration, an amount of cash, a rate)."""
    return _number(text, float, lambda value: value > 0, "must be a number above 0")


def non_negative_float(text: str) -> float:
    """A finite number, 0 or more (a commission)."""
    return _number(text, float, lambda value: value >= 0, "must be a number, 0 or more")


def positive_int(text: str) -> int:
    """A whole number above 0 (a depth, a count, a size)."""
    return int(_number(text, int, lambda value: value > 0, "must be a whole number above 0"))


def non_negative_int(text: str) -> int:
    """A whole number, 0 or more (a random seed)."""
    return int(_number(text, int, lambda value: value >= 0, "must be a whole number, 0 or more"))


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    return int(_number(text, int, lambda value: 0 <= value <= 65535, "must be a port, 0 to 65535"))


def existing_file(text: str) -> Path:
    """A file to read: it must exist and not be a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: a folder, not a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: no such file")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: an existing folder, or a path whose nearest existing part is one."""
    path = Path(text)
    existing = next(part for part in (path, *path.parents) if part.exists())  # "." or "/" at last
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing}: a file, not a folder")
    return path


def output_file(text: str) -> Path:
    """A file to write: not a folder, and not under a file (missing folders are made)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: a folder, not a file to write")
    output_dir(str(path.parent))
    return path


def json_object_file(text: str) -> Path:
    """A file holding one JSON object (API keys)."""
    import json

    path = existing_file(text)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise argparse.ArgumentTypeError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"{path}: not JSON ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{path}: not a JSON object of apiKey and secret")
    return path


def _url(schemes: tuple[str, ...], example: str) -> Callable[[str], str]:
    def url(text: str) -> str:
        if text.partition("://")[0] not in schemes or not text.partition("://")[2]:
            raise argparse.ArgumentTypeError(f"must be a URL like {example}, not {text!r}")
        return text

    url.__name__ = f"{schemes[0]}_url"
    return url


redis_url = _url(("redis", "rediss", "unix"), "redis://HOST:PORT")
rest_url = _url(("http", "https"), "http://127.0.0.1:8080")
ws_url = _url(("ws", "wss"), "ws://127.0.0.1:8080/ws")
