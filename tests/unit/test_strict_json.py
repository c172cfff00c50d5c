"""The strict JSON parser: it takes every RFC 8259 document storable as jsonb, refuses the rest,
and counts depth without recursion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core import strict_json
from functions.core.errors import InvalidInput

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
documents = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=30,
)


def containers_deep(value: Any) -> int:
    """A reference depth, by recursion (fine here: hypothesis keeps these small)."""
    if isinstance(value, list):
        return 1 + max(map(containers_deep, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(containers_deep, value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(documents, st.booleans())
def test_every_storable_document_round_trips_and_its_depth_is_counted(
    document: Any, ascii_only: bool
) -> None:
    encoded = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8")
    assert strict_json.loads(encoded) == document
    assert strict_json.nesting_depth(encoded) == containers_deep(document)


@pytest.mark.parametrize(
    "body",
    [
        b"NaN",
        b"[Infinity]",
        b'{"a": -Infinity}',
        b"[1e309]",
        b'"\\ud800"',
        b'["\\udc00x"]',
        b'{"\\ud800": 1}',
        b'{"a": 1, "b": 2, "a": 3}',
        b"[" * 65 + b"]" * 65,
        b'{"a":' * 65 + b"1" + b"}" * 65,
        b"\xed\xa0\x80",  # a surrogate encoded as UTF-8 bytes
        b"\xef\xbb\xbf{}",  # a byte order mark
        b"{'a': 1}",
        b"[1,]",
        b"",
    ],
)
def test_what_json_loads_would_take_or_choke_on_is_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        strict_json.loads(body)


def test_brackets_inside_strings_are_not_structure() -> None:
    body = json.dumps({"a": "[[[[{{{{" * 100, "b": '\\"[[['}).encode()
    assert strict_json.nesting_depth(body) == 1
    assert strict_json.loads(body)["a"].startswith("[[[[")


def test_depth_64_is_the_limit() -> None:
    assert strict_json.loads(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(InvalidInput, match="65 levels deep; the limit is 64"):
        strict_json.loads(b"[" * 65 + b"]" * 65)


def test_a_deep_value_is_measured_without_recursion() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert strict_json.max_level(deep) == 100_000
    assert strict_json.contains_nul(deep) is False
