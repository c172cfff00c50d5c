"""The payload schema subset: declarations outside it are refused, and payloads that break a
schema are refused with the field's path."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core import schemas
from functions.core.tasks import TaskRegistry

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "seconds": {"type": "number", "minimum": 0, "maximum": 60},
        "size": {"type": "integer"},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "name": {"type": "string", "minLength": 1, "maxLength": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "inner": {
            "type": "object",
            "properties": {"flag": {"type": "boolean"}},
            "required": ["flag"],
            "additionalProperties": False,
        },
    },
    "required": ["size"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("payload", "path", "problem"),
    [
        ({"size": 1, "seconds": "abc"}, "payload.seconds", "must be a number, not a string"),
        ({"size": 1, "seconds": True}, "payload.seconds", "must be a number, not true or false"),
        ({"size": 1, "seconds": -1}, "payload.seconds", "at least 0"),
        ({"size": 1, "seconds": 61}, "payload.seconds", "at most 60"),
        ({"size": 1.5}, "payload.size", "must be a whole number"),
        ({}, "payload.size", "is required"),
        ({"size": 1, "mode": "medium"}, "payload.mode", "one of 'fast', 'slow'"),
        ({"size": 1, "name": ""}, "payload.name", "at least 1 characters"),
        ({"size": 1, "name": "toolong"}, "payload.name", "at most 5 characters"),
        ({"size": 1, "tags": ["a", 2]}, "payload.tags[1]", "must be a string"),
        ({"size": 1, "tags": ["a", "b", "c"]}, "payload.tags", "at most 2 items"),
        ({"size": 1, "inner": {}}, "payload.inner.flag", "is required"),
        ({"size": 1, "inner": {"flag": 1}}, "payload.inner.flag", "true or false"),
        ({"size": 1, "inner": {"flag": True, "x": 1}}, "payload.inner.x", "not a field"),
        ({"size": 1, "extra": 1}, "payload.extra", "not a field of this task"),
        # The kind is a field of the job, not of its payload: here it is data like any other.
        ({"size": 1, "kind": "noop"}, "payload.kind", "not a field of this task"),
    ],
)
def test_a_mismatch_names_the_field(payload: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(schemas.PayloadMismatch) as caught:
        schemas.validate(payload, SCHEMA)
    assert caught.value.path == path
    assert caught.value.pointer == "/" + path.replace("]", "").replace("[", "/").replace(".", "/")
    assert problem in str(caught.value)


def test_a_pointer_escapes_what_rfc_6901_says() -> None:
    with pytest.raises(schemas.PayloadMismatch) as caught:
        schemas.validate({"size": 1, "a/b~c": 1}, SCHEMA)
    assert caught.value.pointer == "/payload/a~1b~0c"


@pytest.mark.parametrize(
    "payload",
    [
        {"size": 0},
        {"size": 3, "seconds": 2.5, "mode": "slow", "name": "abc", "tags": ["x"]},
        {"size": 3, "seconds": 7, "inner": {"flag": False}},
    ],
)
def test_matching_payloads_pass(payload: dict[str, Any]) -> None:
    schemas.validate(payload, SCHEMA)


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "pattern": "x"}, "unsupported keyword"),
        ({"type": "object", "properties": {"a": {"oneOf": []}}}, "unsupported keyword"),
        ({"type": "thing"}, "type must be one of"),
        ({"type": "object", "required": "a"}, "list of names"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "true or false"),
        ({"type": "object", "properties": {"a": {"type": "number", "minimum": "1"}}}, "a number"),
        ([], "must be an object"),
    ],
)
def test_declarations_outside_the_subset_are_refused(schema: Any, problem: str) -> None:
    with pytest.raises(schemas.SchemaError, match=problem):
        schemas.check_schema(schema)


def test_a_task_declares_its_schema_limit_and_description() -> None:
    registry = TaskRegistry()
    schema = {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}

    @registry.task("thumbnail", time_limit_s=60, payload_schema=schema)
    def thumbnail(ctx: Any) -> str:
        """Makes a thumbnail.

        Details nobody reads on the page."""
        return "done"

    @registry.task("plain")
    def plain(ctx: Any) -> None:
        return None

    described = {k.kind: k for k in registry.describe(_settings(), default_s=600)}
    assert described["thumbnail"].payload_schema == schema
    assert described["thumbnail"].time_limit_s == 60
    assert described["thumbnail"].description == "Makes a thumbnail."
    assert described["plain"].payload_schema == {"type": "object"}
    assert described["plain"].time_limit_s == 600


def test_a_task_schema_outside_the_subset_fails_at_declaration() -> None:
    registry = TaskRegistry()
    with pytest.raises(schemas.SchemaError):
        registry.task("bad", payload_schema={"type": "object", "anyOf": []})
    with pytest.raises(schemas.SchemaError, match="type object"):
        registry.task("bad", payload_schema={"type": "string"})


def _settings() -> Any:
    from functions.core.tasks import TaskSettings

    return TaskSettings()
