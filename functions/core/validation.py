"""Turning what callers send into typed values, or an InvalidInput that says what is wrong.

The database checks the same rules again (submit_job raises SQLSTATE 22023), so a caller that
goes around these functions still cannot store a bad job.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from uuid import UUID

from functions.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from functions.core.models import NewJob, WakeUp

MAX_TASK_NAME_CHARS = 200
MAX_PAYLOAD_BYTES = 65_535
MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_BODY_BYTES = 256 * 1024
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def parse_json_body(body: bytes, content_type: str | None) -> Any:
    """The JSON document in a request body; 415 for another media type, 413 when too large."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None


def _contains_nul(value: Any) -> bool:
    # Postgres text and jsonb cannot hold U+0000, so such a payload could never be stored as given.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def validate_task_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidInput("task_name is required and must be a string")
    name = raw.strip()
    if not name:
        raise InvalidInput("task_name is required and may not be blank")
    if len(name) > MAX_TASK_NAME_CHARS:
        raise InvalidInput(
            f"task_name is {len(name)} characters long; the limit is {MAX_TASK_NAME_CHARS}"
        )
    if _has_control_characters(name):
        raise InvalidInput("task_name may not contain control characters")
    return name


def validate_payload(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"payload must be a JSON object, not {type(raw).__name__}")
    if _contains_nul(raw):
        raise InvalidInput("payload may not contain NUL characters (\\u0000)")
    size = len(json.dumps(raw, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"payload is {size} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}")
    return raw


def validate_idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_IDEMPOTENCY_KEY_CHARS or _has_control_characters(raw):
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"
        )
    return raw


def parse_new_job(document: Any, idempotency_key: str | None = None) -> NewJob:
    """A submission: ``{task_name, payload?, kind?}``; ``kind`` picks the task and is kept in
    the payload, so the worker needs nothing but the row."""
    if not isinstance(document, dict):
        raise InvalidInput('the body must be a JSON object like {"task_name": "..."}')
    unknown = set(document) - {"task_name", "payload", "kind"}
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    payload = dict(validate_payload(document.get("payload")))
    kind = document.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise InvalidInput("kind must be a task name like 'simulate' (a-z, 0-9, _)")
        payload["kind"] = kind
        validate_payload(payload)
    return NewJob(
        task_name=validate_task_name(document.get("task_name")),
        payload=payload,
        idempotency_key=validate_idempotency_key(idempotency_key),
    )


def parse_job_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidInput(f"{raw[:60]!r} is not a job id (a UUID)") from None


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIST_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}")
    return int(raw)


def parse_wake_up(document: Any) -> WakeUp:
    """The webhook's body: ``{msg_id, job_id, task_name}`` as the queue trigger sends it."""
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object {msg_id, job_id, task_name}")
    msg_id = document.get("msg_id")
    if isinstance(msg_id, bool) or not isinstance(msg_id, int) or msg_id < 1:
        raise InvalidInput("msg_id must be a positive integer")
    job_id = document.get("job_id")
    if not isinstance(job_id, str):
        raise InvalidInput("job_id must be a UUID string")
    task_name = document.get("task_name")
    if not isinstance(task_name, str):
        raise InvalidInput("task_name must be a string")
    return WakeUp(msg_id=msg_id, job_id=parse_job_id(job_id), task_name=task_name)
