"""RFC 8259 JSON, strictly: what Python's parser lets through but JSON or jsonb refuses is refused.

``json.loads`` accepts ``NaN``/``Infinity``, numbers that overflow a double to ``inf``, lone
surrogate escapes (``"\\ud800"``) and duplicate keys, and recurses in C once per nesting level
(a deep enough ``[[[[...`` raises RecursionError, not a parse error). None of these can be stored
in ``jsonb`` as sent; each is an InvalidInput here. Nothing in this module recurses over the
document: depth is counted by one scan of the text before parsing, and the parsed value is
walked with an explicit stack.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from functions.core.errors import InvalidInput

MAX_DEPTH = 64

# A JSON string, escapes included, or an unterminated one running to the end: possessive, so
# one pass over the text, whatever it holds. Once strings are blanked out, brackets are structure.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
# Opening brackets become 1, closing ones 255, everything else is deleted.
_STEP_TABLE = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))
_SURROGATE = re.compile("[\ud800-\udfff]")


def nesting_depth(text: bytes) -> int:
    """The deepest ``[``/``{`` nesting in ``text``, counted without recursion (brackets inside
    strings do not count). Malformed text gives some number; the parser then rejects it."""
    brackets = _STRING.sub(b"", text).translate(_STEP_TABLE, delete=_NOT_BRACKETS)
    return max(accumulate((1 if step == 1 else -1 for step in brackets), initial=0))


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"the body is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"the body holds a number too large to store: {text[:40]}")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 8259 leaves repeated names to each parser: Python and jsonb keep the last, other
    # parsers (a proxy, a WAF, a log pipeline) the first, so one body could be read as two
    # different jobs; and an idempotency fingerprint must describe one meaning. Refused.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidInput(f"the body repeats the key {key[:60]!r} in one object")
            seen.add(key)
    return document


def _walk(document: Any) -> Iterator[tuple[Any, int]]:
    """Every value in ``document`` (keys included) with its nesting depth, from an explicit
    stack rather than recursion."""
    stack = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        yield value, depth
        if isinstance(value, dict):
            stack.extend((key, depth + 1) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def max_level(document: Any) -> int:
    """How deep the deepest value sits: 0 for a scalar or an empty container, 1 for the
    values in ``[1]`` or ``{"a": 1}``; the same count as Postgres' jsonpath ``.**{level}``."""
    return max((depth for _, depth in _walk(document)), default=0)


def _check_strings(document: Any) -> None:
    """Refuse strings holding a lone surrogate (not Unicode text, so not storable)."""
    for value, _ in _walk(document):
        if isinstance(value, str) and _SURROGATE.search(value):
            raise InvalidInput("the body holds a lone surrogate escape (\\ud800-\\udfff)")


def loads(body: bytes) -> Any:
    """The JSON value in ``body`` (UTF-8), or InvalidInput saying what is wrong with it."""
    depth = nesting_depth(body)
    if depth > MAX_DEPTH:
        raise InvalidInput(f"the body nests {depth} levels deep; the limit is {MAX_DEPTH}")
    try:
        text = body.decode("utf-8")
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except UnicodeDecodeError:
        raise InvalidInput("the body is not valid JSON: it is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc.msg} at offset {exc.pos}") from None
    except ValueError as exc:
        # e.g. an integer beyond Python's 4300-digit conversion limit
        raise InvalidInput(f"the body is not valid JSON: {str(exc)[:100]}") from None
    _check_strings(document)
    return document


def contains_nul(document: Any) -> bool:
    """Whether any string (key or value) holds U+0000, which Postgres text and jsonb refuse."""
    return any(isinstance(v, str) and "\x00" in v for v, _ in _walk(document))
