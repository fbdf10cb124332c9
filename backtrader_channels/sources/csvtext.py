"""CSV blocks read by Arrow in bulk (fast) or line by line with exact problems (careful)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from .arrays import arrow_copy
from .errors import Problems

__all__ = ["CsvLayout", "is_number", "split_line"]

NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"-?\d+")
TRUE = ("true", "True", "TRUE", "1")
FALSE = ("false", "False", "FALSE", "0")
NON_FINITE = ("nan", "inf", "infinity")  # read, then refused as not finite (cause nan_or_inf)
NANO = Decimal("1e-9")
WIDE = Context(prec=1000, Emax=10**6)  # exact for any value a CSV field can hold


def split_line(text: str) -> list[str]:
    """The fields of one CSV line; ValueError saying why for a line the csv module refuses
    (a field longer than its limit of 128 KiB)."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error as error:
        raise ValueError(str(error)) from None


def is_number(text: str) -> bool:
    """Whether ``text`` (stripped) reads as a number, finite or not ('NaN', '-Infinity')."""
    return bool(NUMBER.fullmatch(text)) or text.lower().lstrip("+-") in NON_FINITE


def _number(text: str) -> float:
    text = text.strip()
    if is_number(text):
        return float(text)
    raise ValueError("not a number")


def _integer(text: str) -> int:
    if INTEGER.fullmatch(text) and -(2**63) <= (value := int(text)) < 2**63:
        return value
    raise ValueError("not an integer")


def _decimal(text: str) -> Decimal:
    text = text.strip()
    if not NUMBER.fullmatch(text):
        raise ValueError("not a number")
    value = Decimal(text)
    if value != value.quantize(NANO, context=WIDE):
        raise ValueError("more than 9 decimals")
    if len(value.quantize(NANO, context=WIDE).as_tuple().digits) > 38:
        raise ValueError("too large")
    return value


def _boolean(text: str) -> bool:
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ValueError("not true/false")


# Per type read: how the careful path reads one field, and what stands in for a bad one.
CAREFUL: dict[str, tuple[Callable[[str], Any], Any]] = {
    "int64": (_integer, 0),
    "double": (_number, 0.0),
    "decimal128(38, 9)": (_decimal, Decimal(0)),
    "bool": (_boolean, False),
    "string": (str, ""),
}


def _careful_type(kind: pa.DataType) -> pa.DataType:
    """The type the careful path builds: dictionaries as plain strings."""
    return pa.string() if pa.types.is_dictionary(kind) else kind


@dataclass(frozen=True)
class CsvLayout:
    """The columns of a CSV file (``names``, in order) and the ones read, with their types."""

    names: tuple[str, ...]
    types: Mapping[str, pa.DataType]
    _options: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        read = pacsv.ReadOptions(
            column_names=list(self.names), use_threads=True, block_size=1 << 20
        )
        parse = pacsv.ParseOptions(ignore_empty_lines=True)
        convert = pacsv.ConvertOptions(
            include_columns=list(self.types),
            column_types=dict(self.types),
            null_values=[""],
            true_values=list(TRUE),
            false_values=list(FALSE),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        object.__setattr__(self, "_options", (read, parse, convert))

    def fast(self, data: bytes) -> pa.Table:
        """A block parsed by Arrow (raises an Arrow error on any bad field)."""
        read, parse, convert = self._options
        return pacsv.read_csv(arrow_copy(data), read, parse, convert)

    def careful(self, texts: list[str], problems: Problems) -> pa.Table:
        """Lines parsed one by one; bad fields flagged in ``problems`` and stood in for."""
        read = [
            (self.names.index(name), name, *CAREFUL[str(_careful_type(kind))])
            for name, kind in self.types.items()
        ]
        columns: list[list] = [[] for _ in read]
        width = len(self.names)
        for row, text in enumerate(texts):
            try:
                fields = split_line(text)
            except ValueError as error:
                problems.flag_row(row, None, "unreadable line", str(error))
                fields = []
            if len(fields) != width:
                problems.flag_row(
                    row, None, "wrong column count", f"expected {width} columns, got {len(fields)}"
                )
            for values, (position, name, parse, stand_in) in zip(columns, read, strict=True):
                value = stand_in
                if len(fields) == width:
                    text_value = fields[position]
                    try:
                        value = parse(text_value) if text_value or parse is str else None
                    except ValueError as error:
                        problems.flag_row(row, name, str(error), repr(text_value))
                values.append(value)
        arrays = [
            pa.array(values, _careful_type(kind))
            for values, kind in zip(columns, self.types.values(), strict=True)
        ]
        return pa.table(arrays, names=list(self.types))
