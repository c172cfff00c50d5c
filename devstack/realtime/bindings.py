"""A channel's ``postgres_changes`` bindings: parsed from the join, echoed in the reply, matched
against changes. Pure functions."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.realtime.filters import Condition, FilterError, matches, parse_filter

EVENTS = ("*", "INSERT", "UPDATE", "DELETE")
WILDCARD = "*"
_ID_RANGE = 2**27 - 1  # the size of the ids the Realtime server hands out (erlang:phash2)


class BindingError(ValueError):
    """A binding the gateway cannot subscribe to."""


@dataclass(frozen=True)
class Binding:
    id: int
    event: str  # upper case: *, INSERT, UPDATE or DELETE
    schema: str  # a name or *
    table: str  # a name or *
    conditions: tuple[Condition, ...]
    select: tuple[str, ...] | None
    # As the client sent it, for the reply. Left out of equality and hashing (the fields above
    # are what it means), so channels with like bindings can share one evaluation per change.
    raw: Mapping[str, Any] = field(compare=False)

    def reply_entry(self) -> dict[str, Any]:
        """The binding as the join reply lists it: the client's fields and the id."""
        return {**self.raw, "id": self.id}

    def covers(self, schema: str, table: str, change_type: str) -> bool:
        """Whether a change of this type to ``schema.table`` is within the binding."""
        return (
            (self.event == WILDCARD or self.event == change_type)
            and (self.schema == WILDCARD or self.schema == schema)
            and (self.table == WILDCARD or self.table == table)
        )

    def admits(self, record: Mapping[str, object], column_types: Mapping[str, str]) -> bool:
        """Whether the binding's filter admits the row."""
        return matches(self.conditions, record, column_types)

    def columns(self) -> set[str]:
        """The columns the binding names in its filter and select list."""
        return {c.column for c in self.conditions} | set(self.select or ())


def binding_id(raw: Mapping[str, Any]) -> int:
    """A stable, non-zero id: identical bindings get the same id, as on the Realtime server."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return zlib.crc32(canonical.encode()) % _ID_RANGE + 1


def _name(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise BindingError(f"{key} must be a string")
    return value


def parse_binding(raw: object) -> Binding:
    """One entry of ``config.postgres_changes``."""
    if not isinstance(raw, dict):
        raise BindingError("a postgres_changes binding must be an object")
    event = raw.get("event")
    if not isinstance(event, str) or event.upper() not in EVENTS:
        raise BindingError(f"event must be one of {', '.join(EVENTS)}, not {event!r}")
    filter_text = raw.get("filter")
    if filter_text is not None and not isinstance(filter_text, str):
        raise BindingError("filter must be a string")
    select = raw.get("select")
    if select is not None and (
        not isinstance(select, list) or not all(isinstance(c, str) for c in select)
    ):
        raise BindingError("select must be a list of column names")
    try:
        conditions = parse_filter(filter_text)
    except FilterError as exc:
        raise BindingError(str(exc)) from None
    return Binding(
        id=binding_id(raw),
        event=event.upper(),
        schema=_name(raw, "schema", "public"),
        table=_name(raw, "table", WILDCARD),
        conditions=conditions,
        select=tuple(select) if select else None,
        raw=raw,
    )


def describe(binding: Binding) -> str:
    """A short form for logs: ``public.job_results INSERT task_name=eq.a``."""
    text = f"{binding.schema}.{binding.table} {binding.event}"
    return f"{text} {binding.raw.get('filter')}" if binding.conditions else text
