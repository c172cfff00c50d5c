"""A small JSON Schema subset for task payloads: declared as data, published to the database,
and checked by the submit function without importing any task's code.

Supported keywords: ``type`` (object, string, integer, number, boolean, array, null),
``properties``, ``required``, ``additionalProperties`` (a boolean), ``enum``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``items``, ``maxItems``, and the annotations
``title``, ``description``, ``default`` and ``examples``. Anything else is refused when the
schema is declared, so a schema never promises a check that is not made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TYPES = ("object", "string", "integer", "number", "boolean", "array", "null")
_ANNOTATIONS = {"title", "description", "default", "examples"}
_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "items",
    "maxItems",
} | _ANNOTATIONS


class SchemaError(ValueError):
    """A declared schema uses something this subset does not check."""


class PayloadMismatch(ValueError):
    """A value does not match its schema; ``path`` names the field for people
    (``payload.seconds``), ``pointer`` for programs (``/payload/seconds``, RFC 6901)."""

    def __init__(self, path: str, problem: str, pointer: str = "") -> None:
        super().__init__(f"{path} {problem}")
        self.path = path
        self.problem = problem
        self.pointer = pointer


def _step(pointer: str, token: str | int) -> str:
    """``pointer`` one level down, the token escaped as RFC 6901 says (~ then /)."""
    return f"{pointer}/{str(token).replace('~', '~0').replace('/', '~1')}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_A = {
    "object": "an object",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "null": "null",
}


def check_schema(schema: Any, where: str = "schema") -> None:
    """Raise SchemaError unless ``schema`` is in the subset (checked once, at declaration)."""
    if not isinstance(schema, Mapping):
        raise SchemaError(f"{where} must be an object")
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise SchemaError(f"{where} uses unsupported keyword(s): {', '.join(sorted(unknown))}")
    kind = schema.get("type")
    if kind is not None and kind not in TYPES:
        raise SchemaError(f"{where}.type must be one of {', '.join(TYPES)}")
    props = schema.get("properties", {})
    if not isinstance(props, Mapping):
        raise SchemaError(f"{where}.properties must be an object")
    for name, sub in props.items():
        check_schema(sub, f"{where}.properties.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError(f"{where}.required must be a list of names")
    if not isinstance(schema.get("additionalProperties", True), bool):
        raise SchemaError(f"{where}.additionalProperties must be true or false")
    for bound in ("minimum", "maximum", "minLength", "maxLength", "maxItems"):
        value = schema.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SchemaError(f"{where}.{bound} must be a number")
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise SchemaError(f"{where}.enum must be a list")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")


def _matches_type(value: Any, wanted: str) -> bool:
    actual = _json_type(value)
    return actual == wanted or (wanted == "number" and actual == "integer")


def validate(
    value: Any, schema: Mapping[str, Any], path: str = "payload", pointer: str = "/payload"
) -> None:
    """Raise PayloadMismatch at the first place ``value`` breaks ``schema``."""
    wanted = schema.get("type")
    if wanted is not None and not _matches_type(value, wanted):
        actual = _A.get(_json_type(value), "that")
        raise PayloadMismatch(path, f"must be {_A[wanted]}, not {actual}", pointer)
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(c) for c in schema["enum"])
        raise PayloadMismatch(path, f"must be one of {choices}", pointer)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise PayloadMismatch(path, f"must be at least {schema['minimum']}", pointer)
        if "maximum" in schema and value > schema["maximum"]:
            raise PayloadMismatch(path, f"must be at most {schema['maximum']}", pointer)
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise PayloadMismatch(
                path, f"must be at least {schema['minLength']} characters long", pointer
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise PayloadMismatch(
                path, f"must be at most {schema['maxLength']} characters long", pointer
            )
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise PayloadMismatch(path, f"may hold at most {schema['maxItems']} items", pointer)
        if "items" in schema:
            for index, item in enumerate(value):
                validate(item, schema["items"], f"{path}[{index}]", _step(pointer, index))
    if isinstance(value, dict):
        _validate_object(value, schema, path, pointer)


def _validate_object(
    value: dict[str, Any], schema: Mapping[str, Any], path: str, pointer: str
) -> None:
    props: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            raise PayloadMismatch(f"{path}.{name}", "is required", _step(pointer, name))
    for name, item in value.items():
        if name in props:
            validate(item, props[name], f"{path}.{name}", _step(pointer, name))
        elif schema.get("additionalProperties", True) is False:
            known = ", ".join(sorted(props)) or "none"
            problem = f"is not a field of this task (fields: {known})"
            raise PayloadMismatch(f"{path}.{name[:40]}", problem, _step(pointer, name))
