"""The operators' requests, validated: the metrics window, the failures list's query and the
bulk retry's body. Each bad value is a 400 naming it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from functions.core.errors import InvalidInput
from functions.core.operations import (
    DEFAULT_FAILURE_GROUPS,
    DEFAULT_WINDOW_S,
    MAX_BULK_RETRY,
    MAX_FAILURE_GROUPS,
    MAX_WINDOW_S,
    MIN_WINDOW_S,
    FailureFilter,
)
from functions.core.validation import parse_job_id, parse_kind, parse_run_at

_WHOLE = re.compile(r"[0-9]{1,9}")
MAX_ERROR_CHARS = 1000
RETRY_FIELDS = ("status", "kind", "error", "since", "until", "job_ids", "expect")
FAILURE_QUERY = ("status", "kind", "error", "since", "until", "limit")


def _whole(raw: str, name: str, low: int, high: int) -> int:
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}, not {raw[:20]!r}")
    return int(raw)


def parse_window(raw: str | None) -> int:
    """``window``: the seconds the metrics look back over."""
    if raw is None:
        return DEFAULT_WINDOW_S
    return _whole(raw, "query parameter window", MIN_WINDOW_S, MAX_WINDOW_S)


def parse_group_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_FAILURE_GROUPS
    return _whole(raw, "query parameter limit", 1, MAX_FAILURE_GROUPS)


def _moment(raw: Any, name: str) -> datetime | None:
    try:
        return parse_run_at(raw)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("run_at", name), f"/{name}") from None


def _status(raw: Any) -> str:
    if raw is None:
        return "failed"
    if raw not in ("failed", "cancelled"):
        raise InvalidInput("status must be failed or cancelled", "/status")
    return str(raw)


def _error(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_ERROR_CHARS or "\n" in raw:
        raise InvalidInput(
            f"error must be the first line of an error, at most {MAX_ERROR_CHARS} characters",
            "/error",
        )
    return raw


def _in_order(wanted: FailureFilter) -> FailureFilter:
    if wanted.since and wanted.until and wanted.since >= wanted.until:
        raise InvalidInput("since must be before until", "/since")
    return wanted


def failure_filter_from_query(query: Mapping[str, str]) -> FailureFilter:
    """``GET /failures?status=&kind=&error=&since=&until=``."""
    return _in_order(
        FailureFilter(
            status=_status(query.get("status")),
            kind=parse_kind(query.get("kind")),
            error=_error(query.get("error")),
            since=_moment(query.get("since"), "since"),
            until=_moment(query.get("until"), "until"),
        )
    )


def failure_filter_from_body(document: Any) -> FailureFilter:
    """``POST /jobs/retry``'s body: the list's filter, and optionally ``job_ids`` (at most
    MAX_BULK_RETRY) and ``expect`` (how many jobs the caller saw)."""
    if not isinstance(document, dict):
        raise InvalidInput('the body must be a JSON object, like {"kind": "fail", "since": "..."}')
    unknown = sorted(str(name)[:40] for name in document if name not in RETRY_FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown field(s): {', '.join(unknown)} (accepted: {', '.join(RETRY_FIELDS)})",
            "/" + unknown[0],
        )
    job_ids = document.get("job_ids")
    parsed_ids = None
    if job_ids is not None:
        if not isinstance(job_ids, list) or not job_ids or len(job_ids) > MAX_BULK_RETRY:
            raise InvalidInput(
                f"job_ids must be a list of 1 to {MAX_BULK_RETRY} job ids", "/job_ids"
            )
        ids = []
        for index, raw in enumerate(job_ids):
            if not isinstance(raw, str):
                raise InvalidInput("a job id is a string", f"/job_ids/{index}")
            try:
                ids.append(parse_job_id(raw))
            except InvalidInput as exc:
                raise InvalidInput(exc.message, f"/job_ids/{index}") from None
        parsed_ids = tuple(ids)
    expect = document.get("expect")
    if expect is not None and (
        isinstance(expect, bool) or not isinstance(expect, int) or not 0 <= expect <= MAX_BULK_RETRY
    ):
        raise InvalidInput(f"expect must be a whole number from 0 to {MAX_BULK_RETRY}", "/expect")
    try:
        kind = parse_kind(document.get("kind"))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, "/kind") from None
    return _in_order(
        FailureFilter(
            status=_status(document.get("status")),
            kind=kind,
            error=_error(document.get("error")),
            since=_moment(document.get("since"), "since"),
            until=_moment(document.get("until"), "until"),
            job_ids=parsed_ids,
            expect=expect,
        )
    )
