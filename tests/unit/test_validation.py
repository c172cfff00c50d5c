from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from functions.core import validation
from functions.core.defaults import MAX_BODY_BYTES
from functions.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType


def test_a_submission_is_trimmed_and_its_kind_is_a_field_of_its_own() -> None:
    job = validation.parse_new_job(
        {"task_name": "  Report ", "kind": "noop", "payload": {"a": 1}}, "key"
    )
    assert (job.task_name, job.kind, job.payload, job.idempotency_key) == (
        "Report",
        "noop",
        {"a": 1},
        "key",
    )
    assert validation.parse_new_job({"task_name": "x"}).kind is None  # the API's default


@pytest.mark.parametrize(
    ("document", "fragment", "pointer"),
    [
        ([], "JSON object", None),
        ({}, "task_name is required", "/task_name"),
        ({"task_name": 5}, "must be a string", "/task_name"),
        ({"task_name": "   "}, "blank", "/task_name"),
        ({"task_name": "a" * 201}, "limit is 200", "/task_name"),
        ({"task_name": "a\nb"}, "control characters", "/task_name"),
        ({"task_name": "ok", "payload": [1]}, "JSON object", "/payload"),
        ({"task_name": "ok", "payload": {"x": "a\x00b"}}, "NUL", "/payload"),
        ({"task_name": "ok", "payload": {"x": "y" * 70_000}}, "limit is 65535", "/payload"),
        ({"task_name": "ok", "kind": "Bad Kind"}, "kind must be", "/kind"),
        ({"task_name": "ok", "extra": 1}, "unknown field(s): extra", "/extra"),
        ({"task_name": "ok", "run_at": "soon"}, "run_at must be", "/run_at"),
        ({"task_name": "ok", "delay_seconds": -1}, "delay_seconds must be", "/delay_seconds"),
        (
            {"task_name": "ok", "delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"},
            "not both",
            None,
        ),
    ],
)
def test_bad_submissions_say_what_is_wrong(
    document: Any, fragment: str, pointer: str | None
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validation.parse_new_job(document)
    assert fragment in caught.value.message
    assert caught.value.field == pointer


@pytest.mark.parametrize(
    ("message", "pointer"),
    [
        ("items[3].task_name is required and must be a string", "/items/3/task_name"),
        ("items[12].payload must be a JSON object, not list", "/items/12/payload"),
        ("items[0] has unknown field(s); a job is {task_name, payload}", "/items/0"),
        ("task_name may not contain control characters", "/task_name"),
        ("run_at must be at most 30 days ahead", "/run_at"),
        ("items holds 1001 jobs; send 1 to 1000", None),
        ("idempotency key must be 1 to 200 printable characters", None),
        ("payload_schema is not a field", None),
    ],
)
def test_a_database_message_is_read_for_its_field(message: str, pointer: str | None) -> None:
    assert validation.field_of(message) == pointer


def test_unicode_names_survive_exactly() -> None:
    name = "Ünïcødé 🚀 <script>alert(1)</script> ' OR 1=1 --"
    assert validation.parse_new_job({"task_name": name}).task_name == name


def test_body_media_type_and_size() -> None:
    assert validation.parse_json_body(b'{"a": 1}', "application/json; charset=utf-8") == {"a": 1}
    with pytest.raises(UnsupportedMediaType):
        validation.parse_json_body(b"{}", "text/plain")
    with pytest.raises(UnsupportedMediaType):
        validation.parse_json_body(b"{}", None)
    with pytest.raises(PayloadTooLarge):
        validation.parse_json_body(b" " * (MAX_BODY_BYTES + 1), "application/json")
    with pytest.raises(InvalidInput):
        validation.parse_json_body(b"\xff\xfe", "application/json")


@pytest.mark.parametrize("raw", ["0", "101", "-1", "ten", "1.5"])
def test_limit_out_of_range(raw: str) -> None:
    with pytest.raises(InvalidInput):
        validation.parse_limit(raw)


def test_limit_defaults_and_bounds() -> None:
    assert validation.parse_limit(None) == validation.DEFAULT_LIST_LIMIT
    assert validation.parse_limit("1") == 1
    assert validation.parse_limit("100") == 100


def test_wake_up_parsing() -> None:
    wake_id = "wake_" + uuid.uuid4().hex
    wake = validation.parse_wake_up({"wake_id": wake_id})
    assert wake.wake_id == wake_id
    assert json.loads(json.dumps(wake.to_json())) == {"wake_id": wake_id}
    for bad in [
        {"wake_id": True},
        {"wake_id": "wake_" + "g" * 32},
        {"wake_id": "msg_12"},
        {"wake_id": wake_id + "0"},
        {"msg_id": 1},
        [wake_id],
    ]:
        with pytest.raises(InvalidInput):
            validation.parse_wake_up(bad)
