"""Postgres implementation of the operators' store (functions/core/operations.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from functions.config import Database
from functions.core.errors import InvalidInput, JobsChanged
from functions.core.operations import (
    GROUP_SAMPLE,
    MAX_BULK_RETRY,
    FailureFilter,
    FailureGroup,
    Scope,
)
from functions.db import queries
from functions.db.connections import as_database, connection

# What retry_jobs raises for the caller, by SQLSTATE.
RETRY_ERRORS: dict[str, type[InvalidInput | JobsChanged]] = {
    "22023": InvalidInput,
    "SJ409": JobsChanged,
}


def _params(scope: Scope, wanted: FailureFilter) -> dict[str, Any]:
    return {
        "owner": scope.owner,
        "any_owner": scope.any_owner,
        "status": wanted.status,
        "kind": wanted.kind,
        "error": wanted.error,
        "since": wanted.since,
        "until": wanted.until,
        "job_ids": list(wanted.job_ids) if wanted.job_ids is not None else None,
        "expect": wanted.expect,
    }


class PgOpsStore:
    def __init__(self, database: Database | str) -> None:
        self._database = as_database(database)

    def metrics(self, window_s: int) -> dict[str, Any]:
        with connection(self._database) as conn:
            row = conn.execute(queries.QUEUE_METRICS, {"window_s": window_s}).fetchone()
        assert row is not None
        metrics: dict[str, Any] = row[0]
        return metrics

    def failures(
        self, scope: Scope, wanted: FailureFilter, limit: int
    ) -> tuple[datetime, list[FailureGroup]]:
        params = {**_params(scope, wanted), "sample": GROUP_SAMPLE, "limit": limit}
        with connection(self._database) as conn:
            rows = conn.execute(queries.FAILURE_GROUPS, params).fetchall()
            if not rows:
                now = conn.execute(queries.DATABASE_NOW).fetchone()
                assert now is not None
                return now[0], []
        groups = [
            FailureGroup(kind, error, jobs, first, last, tuple(UUID(str(i)) for i in ids))
            for _, kind, error, jobs, first, last, ids in rows
        ]
        return rows[0][0], groups

    def retry_many(self, scope: Scope, wanted: FailureFilter) -> int:
        params = {**_params(scope, wanted), "max": MAX_BULK_RETRY}
        try:
            with connection(self._database) as conn:
                row = conn.execute(queries.RETRY_JOBS, params).fetchone()
        except psycopg.Error as exc:
            error = RETRY_ERRORS.get(exc.sqlstate or "")
            if error is not None and exc.diag.message_primary:
                field = exc.diag.column_name
                raise error(
                    exc.diag.message_primary, field if field and field.startswith("/") else None
                ) from None
            raise
        assert row is not None
        return int(row[0])
