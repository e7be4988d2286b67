"""Turning raw source values into typed Arrow columns, cell by cell only where a column needs it.

Both sides gather a table as *raw columns* (Python lists of what the file said: JSON values for Procore, element
text for qbXML) in a ``Batch``. ``convert_batch`` turns each column into an Arrow array of the declared type.
The fast path converts a whole column at once (pyarrow casts); when that fails, the column is parsed per cell
so that every failing cell is recorded (row, field, check, value) and nulled, instead of one error hiding the
rest (pandera's lazy mode cannot see past a failed coercion, so we never let it coerce).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .base import ColumnSpec, TableSpec
from .types import MONEY_TYPE, QUANTITY_TYPE, parse_money

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

# Columns whose value is an ISO-8601 duration turned into hours (QuickBooks TimeTracking).
HOURS_COLUMNS = {("time_tracking", "DurationHours")}


class NotAnObject:
    """Marks a dotted path that ran into a non-object (``vendor`` is a string, so ``vendor.id`` cannot be read)."""

    __slots__ = ("path", "value")

    def __init__(self, path: str, value: Any):
        self.path, self.value = path, value

    def __repr__(self) -> str:
        return f"{self.path}={_short(self.value)}"


@dataclass(frozen=True)
class CellError:
    """One value that could not be read: the row (position in the batch), the column, the check and the value."""

    row: int
    field: str
    check: str
    failure_case: str


@dataclass
class Batch:
    """The raw rows of one table as read from the source, before conversion and validation.

    ``group`` ties rows that must load or be quarantined together (a parent record and its nested lines share
    its number). ``records`` holds the source record of each row (shown in the quarantine) when there is one.
    """

    spec: TableSpec
    columns: dict[str, list]
    source_file: list[str]
    source_row: list[int]
    group: list[int]
    records: list | None = None
    extra_errors: list[CellError] = field(default_factory=list)  # problems found while reading (wrong shapes)

    def __len__(self) -> int:
        return len(self.source_row)

    def extend(self, other: Batch) -> None:
        for name, values in other.columns.items():
            mine = self.columns[name]
            if isinstance(mine, pa.Array):  # columns of the vectorised qbXML reader
                mine = self.columns[name] = mine.to_pylist()
            mine.extend(values.to_pylist() if isinstance(values, pa.Array) else values)
        n = len(self)
        self.source_file.extend(other.source_file)
        self.source_row.extend(other.source_row)
        self.group.extend(other.group)
        if self.records is not None and other.records is not None:
            self.records.extend(other.records)
        else:
            self.records = None
        self.extra_errors.extend(
            CellError(e.row + n, e.field, e.check, e.failure_case) for e in other.extra_errors
        )

    def record(self, i: int) -> Any:
        if self.records is not None:
            return self.records[i]
        return {
            name: _jsonable(v)
            for name, values in self.columns.items()
            if (v := values[i].as_py() if isinstance(values, pa.Array) else values[i]) is not None
        }

    @classmethod
    def empty(cls, spec: TableSpec) -> Batch:
        return cls(spec, {c.name: [] for c in spec.columns}, [], [], [], [])


def _jsonable(value: Any) -> Any:
    if isinstance(value, NotAnObject):
        return value.value
    return value


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def kind_of(spec: TableSpec, col: ColumnSpec) -> str:
    """The reading rule of a column, from its declared Arrow type."""
    if (spec.table, col.name) in HOURS_COLUMNS:
        return "hours"
    t = col.arrow_type
    if t == pa.int64():
        return "int"
    if t == pa.string():
        return "text"
    if t == pa.bool_():
        return "bool"
    if t == MONEY_TYPE:
        return "money"
    if t == QUANTITY_TYPE:
        return "quantity"
    if t == pa.date32():
        return "date"
    if t == TIMESTAMP_TYPE:
        return "timestamp"
    raise TypeError(f"no reading rule for {t} ({spec.table}.{col.name})")


# -- per-cell readers: return the value or raise ValueError with what was expected ------------------------------
_INT = re.compile(r"\s*[+-]?\d{1,19}\s*")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def read_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got boolean {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected a whole number, got {value!r}")
        n = int(value)
    elif isinstance(value, str):
        if value.strip() == "":
            return None
        if not _INT.fullmatch(value):
            raise ValueError(f"expected a whole number, got {_short(value)!r}")
        n = int(value)
    else:
        raise ValueError(f"expected a whole number, got {_type_name(value)}")
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise ValueError(f"number {n} is out of range")
    return n


def read_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected text, got boolean {value!r}")
    if isinstance(value, int | float | Decimal):
        return str(value)
    raise ValueError(f"expected text, got {_type_name(value)}")


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def read_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "":
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {_short(value)!r}")
    raise ValueError(f"expected true or false, got {_type_name(value)}")


def read_money(value: Any) -> Decimal | None:
    if isinstance(value, dict | list):
        raise ValueError(f"expected an amount, got {_type_name(value)}")
    return parse_money(value, 2)


def read_quantity(value: Any) -> Decimal | None:
    if isinstance(value, dict | list):
        raise ValueError(f"expected a number, got {_type_name(value)}")
    return parse_money(value, 5)


def read_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date YYYY-MM-DD, got {_type_name(value)}")
    text = value.strip()
    if text == "":
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        if len(text) > 10 and text[10] in "T ":
            return (
                _to_utc(datetime.fromisoformat(text)).date()
                if _has_offset(text)
                else date.fromisoformat(text[:10])
            )
    except ValueError:
        pass
    raise ValueError(f"expected a date YYYY-MM-DD, got {_short(value)!r}")


_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def _has_offset(text: str) -> bool:
    return _OFFSET.search(text) is not None


def _to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)  # a timestamp without offset is taken as UTC
    return dt.astimezone(UTC)


def read_timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _to_utc(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a date-time (ISO 8601), got {_type_name(value)}")
    text = value.strip()
    if text == "":
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date-time (ISO 8601), got {_short(value)!r}") from None
    dt = _to_utc(dt)
    if not 1 <= dt.year <= 9998:
        raise ValueError(f"date-time {_short(value)!r} is out of range")
    return dt


_DURATION = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def read_hours(value: Any) -> Decimal | None:
    """``PT8H30M`` -> 8.5 hours (qbXML durations); plain numbers are taken as hours."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().upper()
        if text == "":
            return None
        m = _DURATION.fullmatch(text)
        if m and text not in ("P", "PT"):
            parts = {k: Decimal(v) if v else Decimal(0) for k, v in m.groupdict().items()}
            hours = parts["d"] * 24 + parts["h"] + parts["m"] / 60 + parts["s"] / 3600
            return hours.quantize(Decimal("0.00001"))
    try:
        return parse_money(value, 5)
    except ValueError:
        raise ValueError(f"expected a duration such as PT8H30M, got {_short(value)!r}") from None


def _type_name(value: Any) -> str:
    if isinstance(value, NotAnObject):
        return f"{_type_name(value.value)} at {value.path!r} where an object was expected"
    return {
        dict: "an object",
        list: "an array",
        str: "text",
        bool: "a boolean",
        float: "a number",
        int: "a number",
    }.get(type(value), type(value).__name__)


READERS: dict[str, Callable[[Any], Any]] = {
    "int": read_int,
    "text": read_text,
    "bool": read_bool,
    "money": read_money,
    "quantity": read_quantity,
    "date": read_date,
    "timestamp": read_timestamp,
    "hours": read_hours,
}

ARROW_TYPES = {
    "int": pa.int64(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "money": MONEY_TYPE,
    "quantity": QUANTITY_TYPE,
    "date": pa.date32(),
    "timestamp": TIMESTAMP_TYPE,
    "hours": QUANTITY_TYPE,
}

CHECK_NAMES = {
    "int": "whole_number",
    "text": "text",
    "bool": "boolean",
    "money": "amount",
    "quantity": "number",
    "date": "date",
    "timestamp": "date_time",
    "hours": "duration",
}


# -- whole-column conversion -----------------------------------------------------------------------------------
def _strings(values: list) -> pa.Array | None:
    """The column as Arrow strings in one C call, or None when some value is not text (JSON numbers, objects).

    Cheaper than checking every value's type in Python first: qbXML columns are always text.
    """
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None


def from_strings(texts: pa.Array, kind: str) -> pa.Array | None:
    """A column that is all text (or null) converted as a whole, the one rule for every reader that has its
    values as Arrow strings (``_fast`` here, DuckDB's reading of Procore pages in ``loaders.procore_sql``); None
    when some value needs the cell-by-cell reading (which names it)."""
    try:
        if kind == "text":
            return texts
        if kind == "bool":
            if pc.all(pc.is_in(texts.drop_null(), value_set=pa.array(["true", "false"]))).as_py() is False:
                return None
            return pc.equal(texts, "true")
        if kind in ("int", "money", "quantity", "date", "timestamp"):
            return pc.cast(texts, pa.date32() if kind == "date" else ARROW_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None
    return None  # hours: always cell by cell


def _fast(values: list, kind: str) -> pa.Array | None:
    """Convert a column in one go when every value has the expected shape; None means 'go cell by cell'."""
    try:
        if kind == "text":
            return _strings(values)
        elif kind == "int":
            if all(type(v) is int or v is None for v in values):
                return pa.array(values, pa.int64())
        elif kind == "bool":
            if all(type(v) is bool or v is None for v in values):
                return pa.array(values, pa.bool_())
        elif kind in ("money", "quantity"):
            texts = _strings(values)
            if texts is not None:
                return from_strings(texts, kind)
            if all(type(v) in (int, float, str) or v is None for v in values):
                # floats go through their shortest repr, as parse_money does (0.1 stays 0.10)
                texts = [v if v is None or type(v) is str else repr(v) for v in values]
                return from_strings(pa.array(texts, pa.string()), kind)
            return None
        if kind in ("int", "bool", "date", "timestamp"):
            texts = _strings(values)
            if texts is not None:
                return from_strings(texts, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None
    return None


def convert_column(values: list | pa.Array, kind: str, name: str) -> tuple[pa.Array, list[CellError]]:
    """A raw column as an Arrow array of its declared type, plus one ``CellError`` per value it could not read.

    ``values`` may be an Arrow array already (the vectorised qbXML reader gives text as Arrow strings): read as
    a whole like a list of the same values, cell by cell (as that list) when that fails."""
    if isinstance(values, pa.Array):
        if values.type == ARROW_TYPES[kind] and kind != "hours":
            return values, []
        if pa.types.is_string(values.type):
            arr = from_strings(values, kind)
            if arr is not None:
                return arr, []
        values = values.to_pylist()
    arr = _fast(values, kind) if values else pa.array([], ARROW_TYPES[kind])
    if arr is not None:
        return arr, []
    reader = READERS[kind]
    check = CHECK_NAMES[kind]
    out: list = []
    errors: list[CellError] = []
    append = out.append
    for i, v in enumerate(values):
        if isinstance(v, NotAnObject):
            errors.append(
                CellError(i, name, "object", f"expected an object at {v.path!r}, got {_short(v.value)}")
            )
            append(None)
            continue
        try:
            append(reader(v))
        except (ValueError, ArithmeticError) as exc:  # InvalidOperation is an ArithmeticError
            errors.append(CellError(i, name, check, str(exc) if str(exc) else f"cannot read {_short(v)}"))
            append(None)
    return pa.array(out, ARROW_TYPES[kind]), errors


def convert_batch(batch: Batch) -> tuple[pa.Table, list[CellError]]:
    """All declared columns of a batch as one typed Arrow table (unreadable cells null) and the cell errors."""
    arrays = []
    errors: list[CellError] = list(batch.extra_errors)
    n = len(batch)
    for col in batch.spec.columns:
        values = batch.columns.get(col.name)
        if values is None:
            values = [None] * n
        arr, errs = convert_column(values, kind_of(batch.spec, col), col.name)
        arrays.append(arr)
        errors.extend(errs)
    table = pa.Table.from_arrays(arrays, names=batch.spec.column_names)
    return table, errors


__all__ = [
    "Batch",
    "CellError",
    "NotAnObject",
    "convert_batch",
    "convert_column",
    "from_strings",
    "kind_of",
    "read_bool",
    "read_date",
    "read_hours",
    "read_int",
    "read_money",
    "read_quantity",
    "read_text",
    "read_timestamp",
]
