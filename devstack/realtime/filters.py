"""``postgres_changes`` filters (``column=op.value``), parsed and evaluated as pure functions.

Supported: ``eq neq lt lte gt gte in is like ilike isdistinct``, a ``not.`` prefix, and several
conditions joined with commas (all must hold), as the Realtime server accepts them. Values are
compared by the column's Postgres type: numbers as numbers, booleans as booleans, times as
times, everything else as text. As in SQL, a comparison with NULL never matches (use ``is``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

ORDERING = {"lt", "lte", "gt", "gte"}
OPERATORS = {"eq", "neq", "in", "is", "like", "ilike", "isdistinct", *ORDERING}
NUMERIC_TYPES = {"int2", "int4", "int8", "float4", "float8", "numeric", "oid"}
TIME_TYPES = {"timestamp", "timestamptz", "date", "time", "timetz"}
_COLUMN = re.compile(r"^[^=]+$")


class FilterError(ValueError):
    """A filter the gateway cannot apply."""


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: str | tuple[str, ...]
    negated: bool = False


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets of any kind and double quotes."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and char == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _parse_condition(text: str) -> Condition:
    column, sep, rest = text.partition("=")
    if not sep or not column or not _COLUMN.match(column):
        raise FilterError(f"filter {text!r} is not of the form column=op.value")
    negated = rest.startswith("not.")
    if negated:
        rest = rest[len("not.") :]
    op, dot, value = rest.partition(".")
    if not dot:
        raise FilterError(f"filter {text!r} is not of the form column=op.value")
    if op not in OPERATORS:
        raise FilterError(f"filter operator {op!r} is not supported")
    if op == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise FilterError(f"filter {text!r}: in takes a list, like in.(a,b)")
        items = tuple(_unquote(item) for item in _split_top_level(value[1:-1]))
        if items == ("",):
            items = ()
        return Condition(column.strip(), op, items, negated)
    if op == "is" and value.lower() not in {"null", "true", "false", "unknown"}:
        raise FilterError(f"filter {text!r}: is takes null, true, false or unknown")
    return Condition(column.strip(), op, _unquote(value), negated)


def parse_filter(text: str | None) -> tuple[Condition, ...]:
    """The conditions of a filter string; empty when there is no filter."""
    if text is None or text.strip() == "":
        return ()
    return tuple(_parse_condition(part) for part in _split_top_level(text))


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"t", "true", "y", "yes", "on", "1"}:
        return True
    if lowered in {"f", "false", "n", "no", "off", "0"}:
        return False
    raise ValueError(text)


def _moment(value: object) -> object:
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    for kind in (datetime, date, time):
        try:
            parsed: object = kind.fromisoformat(text)
        except ValueError:
            continue
        if isinstance(parsed, datetime) and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # the gateway's sessions run in UTC
        return parsed
    raise ValueError(text)


def _coercer(column_type: str) -> Callable[[object], object]:
    """How to turn both the filter's text and the row's JSON value into comparable values."""
    if column_type in NUMERIC_TYPES:
        return lambda v: Decimal(str(v))
    if column_type == "bool":
        return lambda v: v if isinstance(v, bool) else _boolean(str(v))
    if column_type in TIME_TYPES:
        return _moment
    if column_type == "uuid":
        return lambda v: str(v).lower()
    if column_type in {"json", "jsonb"}:
        return lambda v: dumps_sorted(json.loads(v) if isinstance(v, str) else v)
    return lambda v: v if isinstance(v, str) else json.dumps(v)


def dumps_sorted(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _compare(op: str, left: Any, right: Any) -> bool:
    try:
        if op == "eq":
            return bool(left == right)
        if op == "neq":
            return bool(left != right)
        if op == "lt":
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        return bool(left >= right)
    except (TypeError, InvalidOperation):
        return False  # NaN, or a time compared with a date: SQL would not say true either


def _like(pattern: str, value: str, insensitive: bool) -> bool:
    regex = "".join(".*" if c in "%*" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if insensitive else 0)) is not None


def _holds(condition: Condition, value: object, column_type: str) -> bool | None:
    """Whether the condition holds for ``value``; None for SQL's unknown."""
    op = condition.op
    if op == "is":
        target = str(condition.value).lower()
        if target in {"null", "unknown"}:
            return value is None
        return isinstance(value, bool) and value == (target == "true")
    coerce = _coercer(column_type)
    if op == "isdistinct":
        if value is None:
            return True
        try:
            return bool(coerce(value) != coerce(condition.value))
        except (ValueError, ArithmeticError):
            return True
    if value is None:
        return None
    if op in {"like", "ilike"}:
        text = value if isinstance(value, str) else json.dumps(value)
        return _like(str(condition.value), text, op == "ilike")
    try:
        left = coerce(value)
        if op == "in":
            return any(left == coerce(item) for item in condition.value)
        return _compare(op, left, coerce(condition.value))
    except (ValueError, ArithmeticError):
        return False  # a value the column's type would have refused: no row equals it


def condition_matches(
    condition: Condition, record: Mapping[str, object], column_types: Mapping[str, str]
) -> bool:
    """Whether one condition admits the row; a column missing from the row never matches."""
    if condition.column not in record:
        return False
    result = _holds(condition, record[condition.column], column_types.get(condition.column, ""))
    if result is None:
        return False
    return not result if condition.negated else result


def matches(
    conditions: tuple[Condition, ...],
    record: Mapping[str, object],
    column_types: Mapping[str, str],
) -> bool:
    """Whether every condition admits the row (no conditions: every row)."""
    return all(condition_matches(c, record, column_types) for c in conditions)
