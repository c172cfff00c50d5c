"""A captured row change, the table it belongs to, and the ``data`` object a
``postgres_changes`` message carries. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INSERT, UPDATE, DELETE = "INSERT", "UPDATE", "DELETE"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # pg_type.typname, as the clients expect it (int4, text, _int4, ...)


@dataclass(frozen=True)
class TableInfo:
    oid: int
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # The columns logical replication would ship as the old row: all of them with replica
    # identity full, the key otherwise, none with replica identity nothing.
    identity: tuple[str, ...]

    @property
    def column_types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}

    def has_columns(self, names: Mapping[str, object]) -> bool:
        """Whether a captured row has exactly this table's columns (else the cache is stale)."""
        return set(names) == {c.name for c in self.columns}


@dataclass(frozen=True)
class Change:
    id: int
    relid: int
    schema: str
    table: str
    type: str  # INSERT, UPDATE or DELETE
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    commit_timestamp: str

    @property
    def row(self) -> Mapping[str, Any]:
        """The captured row as a whole: the new one, or for a DELETE the old one."""
        return self.record if self.record is not None else (self.old_record or {})


def old_values(change: Change, table: TableInfo) -> dict[str, Any]:
    """The old row as Realtime has it: only the replica identity's columns."""
    old = change.old_record or {}
    return {name: old[name] for name in table.identity if name in old}


def filter_row(change: Change, table: TableInfo) -> Mapping[str, Any]:
    """The values a filter is evaluated on: the new row, or a DELETE's old values."""
    if change.type == DELETE:
        return old_values(change, table)
    return change.record or {}


def _project(row: Mapping[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    if select is None:
        return dict(row)
    return {name: row[name] for name in select if name in row}


def payload_data(
    change: Change, table: TableInfo, select: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """The ``data`` of a ``postgres_changes`` message; ``select`` narrows it to some columns."""
    columns = [
        {"name": c.name, "type": c.type}
        for c in table.columns
        if select is None or c.name in select
    ]
    data: dict[str, Any] = {
        "schema": change.schema,
        "table": change.table,
        "commit_timestamp": change.commit_timestamp,
        "type": change.type,
        "columns": columns,
    }
    if change.type != DELETE:
        data["record"] = _project(change.record or {}, select)
    if change.type != INSERT:
        data["old_record"] = _project(old_values(change, table), select)
    data["errors"] = None
    return data
