"""Turning what callers send into typed values, or an InvalidInput that says what is wrong.

The database checks the same rules again (submit_job raises SQLSTATE 22023), so a caller that
goes around these functions still cannot store a bad job.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from functions.core import flow, schemas, strict_json
from functions.core.defaults import MAX_BODY_BYTES
from functions.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from functions.core.models import JobStatus, NewBatch, NewJob, NewSchedule, TaskKind, WakeUp
from functions.core.trace_context import traceparent_of

MAX_TASK_NAME_CHARS = 200
MAX_PAYLOAD_BYTES = 65_535
MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_BATCH_JOBS = 1000
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
MAX_DELAY_S = 30 * 24 * 3600  # as submit_job's limit
# RFC 3339 date-time with a zone (Z or an offset); a time without a zone would mean the
# server's, which the caller cannot know.
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LIMIT = re.compile(r"^[0-9]{1,3}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\s;\"]*)\"?", re.IGNORECASE)


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def parse_json_body(body: bytes, content_type: str | None) -> Any:
    """The JSON document in a request body, parsed strictly (strict_json); 415 for another
    media type or charset, 413 when too large.

    Adapters hand over at most MAX_BODY_BYTES + 1 bytes, so the size rule lives here alone."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    charset = _CHARSET.search(content_type or "")
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        # RFC 8259 section 8.1: JSON exchanged between systems is UTF-8.
        raise UnsupportedMediaType(
            f"Content-Type names charset {charset.group(1)[:40]!r}; JSON is sent as UTF-8"
        )
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is over the limit of {MAX_BODY_BYTES} bytes")
    return strict_json.loads(body)


def check_query(query: Mapping[str, str], allowed: Collection[str]) -> None:
    """Refuse query parameters the route does not read, naming them."""
    unknown = sorted(name[:40] for name in query if name not in allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(
            f"unknown query parameter(s): {', '.join(unknown)[:200]} (accepted: {accepted})"
        )


def validate_task_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidInput("task_name is required and must be a string", "/task_name")
    name = raw.strip()
    if not name:
        raise InvalidInput("task_name is required and may not be blank", "/task_name")
    if len(name) > MAX_TASK_NAME_CHARS:
        raise InvalidInput(
            f"task_name is {len(name)} characters long; the limit is {MAX_TASK_NAME_CHARS}",
            "/task_name",
        )
    if _has_control_characters(name):
        raise InvalidInput("task_name may not contain control characters", "/task_name")
    return name


def validate_payload(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"payload must be a JSON object, not {type(raw).__name__}", "/payload")
    if strict_json.max_level(raw) > strict_json.MAX_DEPTH:
        raise InvalidInput(f"payload nests deeper than {strict_json.MAX_DEPTH} levels", "/payload")
    if strict_json.contains_nul(raw):
        raise InvalidInput("payload may not contain NUL characters (\\u0000)", "/payload")
    size = len(json.dumps(raw, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            f"payload is {size} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}", "/payload"
        )
    return raw


def _unquote_sf_string(quoted: str) -> str | None:
    """The value of an RFC 8941 sf-string (``"..."`` with ``\\"`` and ``\\\\`` escapes), or
    None when it is not one."""
    out: list[str] = []
    chars = iter(quoted[1:-1])
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "")
            if ch not in ('"', "\\"):
                return None
        elif ch == '"':
            return None
        out.append(ch)
    return "".join(out)


def validate_idempotency_key(raw: str | None) -> str | None:
    """The key from an ``Idempotency-Key`` header: the IETF draft's quoted sf-string, or the
    bare token many clients send; printable ASCII either way (header bytes arrive as Latin-1
    on one platform and UTF-8 on another, so anything else would not name the same key)."""
    if raw is None:
        return None
    problem = (
        f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters,"
        ' bare or as a quoted string ("...")'
    )
    key: str | None = raw.strip(" \t")
    if key is not None and len(key) >= 2 and key[0] == key[-1] == '"':
        key = _unquote_sf_string(key)
    if (
        key is None
        or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS
        or not all(" " <= ch <= "~" for ch in key)
    ):
        raise InvalidInput(problem)
    return key


def parse_new_job(document: Any, idempotency_key: str | None = None) -> NewJob:
    """A submission: ``{task_name, kind?, payload?, run_at? | delay_seconds?}`` and flow
    control's fields (``core.flow.FIELDS``: priority, concurrency key and limit, dedup key,
    debounce). ``task_name``
    is a free label shown to people; ``kind`` picks the task (None here: the API puts in the
    default kind, see ``check_kind``)."""
    if not isinstance(document, dict):
        raise InvalidInput('the body must be a JSON object like {"task_name": "..."}')
    unknown = sorted(
        set(document) - {"task_name", "payload", "kind", "run_at", "delay_seconds", *flow.FIELDS}
    )
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)[:200]}", _pointer(unknown[0]))
    run_at = parse_run_at(document.get("run_at"))
    delay_s = parse_delay(document.get("delay_seconds"))
    if run_at is not None and delay_s is not None:
        raise InvalidInput("give run_at or delay_seconds, not both")
    payload = validate_payload(document.get("payload"))
    return NewJob(
        task_name=validate_task_name(document.get("task_name")),
        payload=payload,
        idempotency_key=validate_idempotency_key(idempotency_key),
        run_at=run_at,
        delay_s=delay_s,
        kind=parse_kind(document.get("kind")),
        flow=flow.parse_job_flow(document),
    )


def parse_kind(raw: Any) -> str | None:
    """The ``kind`` field: a task's name (a-z, 0-9, _), or None when not given."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not _KIND.match(raw):
        raise InvalidInput("kind must be a task name like 'noop' (a-z, 0-9, _)", "/kind")
    return raw


def _pointer(name: str) -> str:
    """The JSON pointer (RFC 6901) of a top-level field."""
    return "/" + name[:40].replace("~", "~0").replace("/", "~1")


_ITEM_FIELDS = ("task_name", "payload", "kind")


def at_item(index: int, error: InvalidInput) -> InvalidInput:
    """``error`` as said of batch item ``index``: ``items[3].task_name is ...``, its field
    ``/items/3/task_name``."""
    where = f"items[{index}]"
    problem = error.message
    if problem.startswith(_ITEM_FIELDS):
        message = f"{where}.{problem}"
    elif problem.startswith("the body must be"):
        message = f"{where} must be{problem[len('the body must be') :]}"
    else:
        message = f"{where}: {problem}"
    return InvalidInput(message, f"/items/{index}{error.field or ''}")


def field_of(message: str) -> str | None:
    """The field a database error message is about, from its prefix (``items[3].kind ...``
    -> ``/items/3/kind``, ``payload must be ...`` -> ``/payload``); None when it names none."""
    match = _MESSAGE_FIELD.match(message)
    if match is None:
        return None
    index, name = match.group("index"), match.group("name")
    item = f"/items/{index}" if index is not None else ""
    return f"{item}/{name}" if name else item or None


_MESSAGE_FIELD = re.compile(
    r"^(?:items\[(?P<index>[0-9]+)\]\.?)?"
    r"(?:(?P<name>task_name|payload|kind|run_at|delay_seconds)(?![A-Za-z0-9_]))?"
)


def parse_new_jobs(document: Any, idempotency_key: str | None = None) -> NewBatch:
    """A batch: a JSON array of 1 to MAX_BATCH_JOBS submissions, each as parse_new_job takes
    one; an error names the first bad item by its index. The key covers the whole batch."""
    if not isinstance(document, list):
        raise InvalidInput("a batch must be a JSON array of jobs")
    if not 1 <= len(document) <= MAX_BATCH_JOBS:
        raise InvalidInput(
            f"a batch holds 1 to {MAX_BATCH_JOBS} jobs; this one has {len(document)}"
        )
    key = validate_idempotency_key(idempotency_key)
    jobs = []
    for index, item in enumerate(document):
        # submit_jobs stores task_name, kind and payload: a field a single job may take beyond
        # these must be refused here, never dropped.
        extra = sorted(set(item) - set(_ITEM_FIELDS)) if isinstance(item, dict) else []
        timed = [field for field in ("run_at", "delay_seconds") if field in extra]
        if timed:
            raise InvalidInput(
                f"items[{index}].{timed[0]}: a batch's jobs start at once;"
                " submit a job with a delayed start on its own",
                f"/items/{index}/{timed[0]}",
            )
        if extra:
            raise InvalidInput(
                f"items[{index}]: unknown field(s): {', '.join(extra)[:200]}"
                " (a batch item takes task_name, kind and payload)",
                f"/items/{index}{_pointer(extra[0])}",
            )
        try:
            jobs.append(parse_new_job(item))
        except InvalidInput as exc:
            raise at_item(index, exc) from None
    return NewBatch(jobs=tuple(jobs), idempotency_key=key)


def check_kind(job: NewJob, kinds: Mapping[str, TaskKind], default_kind: str) -> NewJob:
    """The job with its kind (``default_kind`` when it named none), refused when no worker has
    published that kind or its payload does not match the kind's schema; the message names
    the field (``payload.seconds must be a number``), ``field`` points at it."""
    kind = job.kind or default_kind
    spec = kinds.get(kind)
    if spec is None:
        known = ", ".join(sorted(kinds)) or "none yet"
        raise InvalidInput(f"kind {kind[:64]!r} is not a known task (known: {known})", "/kind")
    try:
        schemas.validate(job.payload, spec.payload_schema)
    except schemas.PayloadMismatch as exc:
        raise InvalidInput(f"{exc} (task {kind!r})", exc.pointer) from None
    return replace(job, kind=kind)


def check_kinds(batch: NewBatch, kinds: Mapping[str, TaskKind], default_kind: str) -> NewBatch:
    """check_kind for each job of a batch; an error names the first bad item
    (``items[3].payload.seconds must be a number``, field ``/items/3/payload/seconds``)."""
    checked = []
    for index, job in enumerate(batch.jobs):
        try:
            checked.append(check_kind(job, kinds, default_kind))
        except InvalidInput as exc:
            raise at_item(index, exc) from None
    return replace(batch, jobs=tuple(checked))


def parse_run_at(raw: Any) -> datetime | None:
    """When a delayed job is due: an RFC 3339 date-time with its zone. How far ahead it may
    be (30 days) is the database's to say, by its own clock."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not _RFC3339.match(raw):
        raise InvalidInput(
            "run_at must be a date-time with a time zone, like 2026-12-01T09:30:00Z", "/run_at"
        )
    try:
        moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"run_at {raw[:40]!r} is not a real date and time", "/run_at") from None
    if moment.year < 2000:
        raise InvalidInput("run_at is before the year 2000", "/run_at")
    return moment


def parse_delay(raw: Any) -> float | None:
    """``delay_seconds``: how long from now (the database's now) the job waits to start."""
    if raw is None:
        return None
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or not math.isfinite(raw)
        or not 0 <= raw <= MAX_DELAY_S
    ):
        raise InvalidInput(
            f"delay_seconds must be a number of seconds from 0 to {MAX_DELAY_S}", "/delay_seconds"
        )
    return float(raw)


def parse_status(raw: str | None) -> JobStatus | None:
    """The ``status`` query parameter of the job list."""
    if raw is None:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(
            f"query parameter status must be one of {known}, not {raw[:20]!r}"
        ) from None


def parse_job_id(raw: str) -> UUID:
    """A job id in the canonical 8-4-4-4-12 form (UUID() alone also takes braces, urn:uuid:
    and undashed hex, which would give one job several addresses)."""
    if not _UUID.match(raw):
        raise InvalidInput(f"{raw[:60]!r} is not a job id (a UUID like 8-4-4-4-12 hex digits)")
    return UUID(raw)


def parse_limit(raw: str | None) -> int:
    """The ``limit`` query parameter; ASCII digits only (str.isdigit() also takes other
    scripts' digits and superscripts)."""
    if raw is None:
        return DEFAULT_LIST_LIMIT
    if not _LIMIT.match(raw) or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise InvalidInput(
            f"query parameter limit must be a whole number from 1 to {MAX_LIST_LIMIT},"
            f" not {raw[:20]!r}"
        )
    return int(raw)


WAKE_ID = re.compile(r"wake_[0-9a-f]{32}")


def parse_wake_up(document: Any) -> WakeUp:
    """A wake-up's body: ``{"wake_id": "wake_<32 hex>"}`` as private.send_wakeup sends it."""
    if not isinstance(document, dict):
        raise InvalidInput('the body must be a JSON object {"wake_id": ...}')
    wake_id = document.get("wake_id")
    if not isinstance(wake_id, str) or WAKE_ID.fullmatch(wake_id) is None:
        raise InvalidInput("wake_id must be a wake-up id (wake_ and 32 hex digits)")
    return WakeUp(wake_id=wake_id, traceparent=traceparent_of(document.get("traceparent")))


SCHEDULE_FIELDS = ("name", "cron", "task_name", "kind", "payload")
MAX_CRON_CHARS = 200


def parse_new_schedule(document: Any) -> NewSchedule:
    """A schedule: ``{name, cron, task_name, kind?, payload?}``; the job part as a submission's.
    The database checks the cron expression and the name's form (it computes the due times)."""
    if not isinstance(document, dict):
        raise InvalidInput('the body must be a JSON object like {"name": "...", "cron": "..."}')
    unknown = sorted(set(document) - set(SCHEDULE_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)[:200]}", _pointer(unknown[0]))
    name, cron = document.get("name"), document.get("cron")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise InvalidInput("name is required: 1 to 100 characters", "/name")
    if not isinstance(cron, str) or not 1 <= len(cron) <= MAX_CRON_CHARS:
        raise InvalidInput("cron is required: five fields like '0 3 * * *' (UTC)", "/cron")
    return NewSchedule(
        name=name,
        cron=cron,
        task_name=validate_task_name(document.get("task_name")),
        payload=validate_payload(document.get("payload")),
        kind=parse_kind(document.get("kind")),
    )


def parse_schedule_id(raw: str) -> UUID:
    """A schedule id in the canonical 8-4-4-4-12 form."""
    if not _UUID.match(raw):
        raise InvalidInput(f"{raw[:60]!r} is not a schedule id (a UUID)")
    return UUID(raw)
