"""Property tests of the submit function, running under functions-framework on loopback on a
real database: whatever arrives (JSON Python's parser takes but RFC 8259 or Postgres does not,
arbitrary bytes, query strings and headers), the answer is never a 5xx, never a stack trace,
always the JSON error shape on a 4xx, and a 4xx never leaves a row or a message behind.

Hypothesis generates the requests (FUZZ_EXAMPLES each, 300 by default); a short schemathesis
run checks the same against functions/openapi.yaml.
"""

from __future__ import annotations

import http.client
import json
import os
import unicodedata
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from devstack.postgres.embedded import free_port
from devstack.services import ManagedProcess, function_process
from tests.db_state import jobs_and_messages

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@dataclass(frozen=True)
class Server:
    process: ManagedProcess
    database_url: str


@pytest.fixture(scope="module")
def server(module_db_url: str) -> Iterator[Server]:
    env = {
        "DATABASE_URL": module_db_url,
        "SUPABASE_JWT_SECRET": "fuzz-jwt-secret-of-32-characters-x",
    }
    process = function_process("submit", free_port(), env).start()
    yield Server(process, module_db_url)
    process.stop()


statuses_seen: set[int] = set()
batch_accepted: list[int] = []


# --- JSON text, including what json.dumps would never write --------------------------------

ODD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 5000, "1E+2", "-0"]
ODD_STRINGS = [r'"\ud800"', r'"x\udfff"', r'"\udc00\ud800"', r'"a\u0000b"', r'"\ud83d\ude00"']


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


scalars = st.one_of(
    st.sampled_from(["null", "true", "false"]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),  # NaN, Infinity too
    st.sampled_from(ODD_NUMBERS),
    st.text(max_size=40).map(_string),
    st.sampled_from(ODD_STRINGS),
)
deep = st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n)
huge = st.integers(min_value=1, max_value=300_000).map(lambda n: _string("x" * n))
keys = st.one_of(st.sampled_from(["task_name", "payload", "kind", "n"]), st.text(max_size=10))


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{_string(k)}: {v}" for k, v in pairs) + "}"  # duplicates kept


json_text = st.recursive(
    st.one_of(scalars, deep, huge),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(keys, inner), max_size=4).map(_object),
    ),
    max_leaves=12,
)
task_names = st.one_of(st.text(max_size=30).map(_string), json_text)
submissions = st.builds(
    lambda name, kind, payload, extra: _object(
        [("task_name", name)]
        + ([("kind", kind)] if kind is not None else [])
        + ([("payload", payload)] if payload is not None else [])
        + extra
    ),
    task_names,
    st.one_of(st.none(), st.sampled_from(['"noop"', '"Bad Kind"']), json_text),
    st.one_of(st.none(), json_text),
    st.lists(st.tuples(keys, json_text), max_size=2),
)
# Batches: arrays of submissions (a valid one now and then), empty, and past the 1,000 limit.
valid_items = st.builds(
    lambda name, kind: _object(
        [("task_name", _string(name))] + ([("kind", '"noop"')] if kind else [])
    ),
    st.text(min_size=1, max_size=20).filter(lambda t: t.strip() and t.isprintable()),
    st.booleans(),
)
batches = st.one_of(
    st.lists(st.one_of(valid_items, submissions), max_size=5),
    st.lists(valid_items, min_size=1, max_size=5),
    st.sampled_from([0, 1000, 1001]).map(lambda n: ['{"task_name": "b"}'] * n),
).map(lambda items: "[" + ", ".join(items) + "]")
bodies = st.one_of(
    submissions.map(lambda text: text.encode("utf-8", "surrogatepass")),
    batches.map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=2000),
    # Around the 256 KiB body limit, on both sides of it.
    st.integers(min_value=250_000, max_value=600_000).map(
        lambda n: b'{"task_name": "x", "payload": {"s": "' + b"y" * n + b'"}}'
    ),
)

# --- headers and query strings ----------------------------------------------------------------

# Any field value HTTP allows (RFC 9110 5.5: visible ASCII, obs-text, space, tab). Control
# characters are refused by the HTTP server itself (gunicorn's own 400) before our code runs.
header_text = st.text(
    alphabet=st.sampled_from([chr(c) for c in [9, *range(0x20, 0x7F), *range(0x80, 0x100)]]),
    max_size=220,
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            "text/plain",
            "application/x-www-form-urlencoded",
        ]
    ),
    header_text,
)
idempotency_keys = st.one_of(st.none(), st.sampled_from(["k1", "k2", '"k1"']), header_text)
queries = st.one_of(
    st.just(""),
    st.lists(
        st.tuples(
            st.sampled_from(["limit", "offset", "x", "status"]),
            st.one_of(st.text(max_size=8), st.sampled_from(["failed", "cancelled", "Failed"])),
        ),
        max_size=3,
    ).map(urllib.parse.urlencode),
    st.text(max_size=40).map(lambda raw: urllib.parse.quote(raw, safe="=&")),
)
# functions-framework answers these itself (an HTML 404) before any function runs: two fixed
# paths, and any path with a control character (werkzeug's path converter stops at a newline).
# On Lambda, API Gateway has no such routes; locally they never reach our code.
FRAMEWORK_PATHS = {"/robots.txt", "/favicon.ico"}
segments = st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]), max_size=40)
paths = st.one_of(
    st.just("/jobs"),
    st.just("/kinds"),
    st.uuids().map(lambda u: f"/jobs/{u}"),
    st.tuples(st.uuids(), st.sampled_from(["cancel", "retry", "Cancel", "x"])).map(
        lambda t: f"/jobs/{t[0]}/{t[1]}"
    ),
    segments.map(lambda raw: "/jobs/" + urllib.parse.quote(raw, safe="") + "/cancel"),
    segments.map(lambda raw: "/jobs/" + urllib.parse.quote(raw, safe="")),
    segments.map(lambda raw: "/" + urllib.parse.quote(raw)),
).filter(lambda path: path not in FRAMEWORK_PATHS)


@dataclass(frozen=True)
class Reply:
    status: int
    text: str


def send(
    server: Server, method: str, target: str, body: bytes | None, headers: dict[str, str]
) -> Reply:
    note(f"{method} {target!r} {headers!r} {(body or b'')[:200]!r}")
    conn = http.client.HTTPConnection("127.0.0.1", server.process.port, timeout=30)
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def check(reply: Reply, before: tuple[int, int], after: tuple[int, int], keyed: bool) -> None:
    statuses_seen.add(reply.status)
    assert reply.status < 500, reply.text
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    if reply.status >= 400:
        assert reply.text.startswith("{"), f"{reply.status} {reply.text[:200]!r}"
        error: Any = json.loads(reply.text)["error"]
        assert set(error) - {"field"} == {"code", "message"}
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        assert error.get("field", "/").startswith("/")  # a JSON pointer when present
        assert after == before, "a refused request stored something"
    elif reply.status == 202:
        answer: Any = json.loads(reply.text)
        count = len(answer["job_ids"]) if "job_ids" in answer else 1
        if "job_ids" in answer:
            batch_accepted.append(count)
        grew = (before[0] + count, before[1] + count)
        assert after == grew or (keyed and after == before)  # a replayed key stores nothing
    else:
        assert after == before


@FUZZ_SETTINGS
@given(
    body=bodies,
    content_type=st.one_of(st.just("application/json"), st.none(), content_types),
    key=idempotency_keys,
    query=queries,
)
def test_any_submission_is_answered_without_a_5xx_and_a_refusal_stores_nothing(
    server: Server, body: bytes, content_type: str | None, key: str | None, query: str
) -> None:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if key is not None:
        headers["Idempotency-Key"] = key
    before = jobs_and_messages(server.database_url)
    target = "/jobs" + (f"?{query}" if query else "")
    reply = send(server, "POST", target, body, headers)
    check(reply, before, jobs_and_messages(server.database_url), key is not None)


@FUZZ_SETTINGS
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=paths,
    query=queries,
    extra=st.dictionaries(st.sampled_from(["Idempotency-Key", "Origin", "X-Odd"]), header_text),
)
def test_any_method_path_query_and_header_is_answered_without_a_5xx(
    server: Server, method: str, path: str, query: str, extra: dict[str, str]
) -> None:
    before = jobs_and_messages(server.database_url)
    target = path + (f"?{query}" if query else "")
    body = b'{"task_name": "fuzz"}' if method in ("POST", "PUT", "PATCH") else None
    headers = {**extra, "Content-Type": "application/json"}
    reply = send(server, method, target, body, headers)
    if method == "HEAD":
        reply = Reply(reply.status, "")  # no body to check; the status still counts
        statuses_seen.add(reply.status)
        assert reply.status < 500
        assert jobs_and_messages(server.database_url) == before
        return
    check(reply, before, jobs_and_messages(server.database_url), "Idempotency-Key" in extra)


# --- idempotency keys against a model ------------------------------------------------------

SAME_AS_FIRST = [
    {"task_name": "a", "payload": {"x": 1, "y": [2]}},
    {"payload": {"y": [2], "x": 1}, "task_name": " a "},  # the same request, written otherwise
]
OTHERS: list[Any] = [
    {"task_name": "a"},
    {"task_name": "b", "payload": {"x": 1, "y": [2]}},
    # Batches: the same one written twice, and others.
    [{"task_name": "a", "payload": {"x": 1, "y": [2]}}, {"task_name": "b"}],
    [{"task_name": " a", "payload": {"y": [2], "x": 1}}, {"task_name": "b", "payload": {}}],
    [{"task_name": "a", "payload": {"x": 1, "y": [2]}}],
    [{"task_name": "b"}, {"task_name": "a", "payload": {"x": 1, "y": [2]}}],
]


def _meaning(document: Any) -> str:
    if isinstance(document, list):
        return json.dumps([_meaning(item) for item in document])
    return json.dumps([document["task_name"].strip(), document.get("payload", {})], sort_keys=True)


def _job_ids(text: str) -> list[str]:
    answer = json.loads(text)
    return answer["job_ids"] if "job_ids" in answer else [answer["job_id"]]


@settings(FUZZ_SETTINGS, max_examples=max(10, EXAMPLES // 6))
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["k1", "k2"]), st.sampled_from(SAME_AS_FIRST + OTHERS)),
        min_size=2,
        max_size=6,
    )
)
def test_keys_replay_the_same_request_and_refuse_another(
    server: Server, steps: list[tuple[str, Any]]
) -> None:
    prefix = uuid.uuid4().hex  # keys of their own, whatever earlier examples stored
    first: dict[str, tuple[str, list[str]]] = {}  # key -> (meaning, job_ids)
    for name, document in steps:
        key = f"{prefix}-{name}"
        before = jobs_and_messages(server.database_url)
        body = json.dumps(document).encode()
        reply = send(
            server,
            "POST",
            "/jobs",
            body,
            {"Content-Type": "application/json", "Idempotency-Key": key},
        )
        statuses_seen.add(reply.status)
        after = jobs_and_messages(server.database_url)
        if key not in first:
            assert reply.status == 202, reply.text
            first[key] = (_meaning(document), _job_ids(reply.text))
            grown = len(first[key][1])
            assert grown == (len(document) if isinstance(document, list) else 1)
            assert after == (before[0] + grown, before[1] + grown)
        elif first[key][0] == _meaning(document):
            assert reply.status == 202, reply.text
            assert _job_ids(reply.text) == first[key][1]
            assert after == before
        else:
            assert reply.status == 422, reply.text
            assert json.loads(reply.text)["error"]["code"] == "idempotency_key_reused"
            assert after == before


# --- cancel and retry on real jobs in every state --------------------------------------------


@settings(FUZZ_SETTINGS, max_examples=max(10, EXAMPLES // 6))
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["cancel", "retry"]), st.integers(0, 2)), min_size=1, max_size=6
    ),
    delays=st.lists(st.sampled_from([None, 0, 3600]), min_size=3, max_size=3),
)
def test_cancel_and_retry_follow_the_lifecycle_and_a_refusal_changes_nothing(
    server: Server, steps: list[tuple[str, int]], delays: list[int | None]
) -> None:
    """A model of the lifecycle decides each answer: cancel a pending or scheduled job -> 200
    (cancelled, message gone), cancel a cancelled one -> 200 (nothing changes); retry a
    cancelled one -> 202 (pending, a new message); anything else -> 409, nothing stored. No
    worker runs here, so no job is ever running, completed or failed."""
    ids: list[str] = []
    states: list[str] = []
    for delay in delays:
        document: dict[str, Any] = {"task_name": "life", "kind": "noop"}
        if delay is not None:
            document["delay_seconds"] = delay
        reply = send(server, "POST", "/jobs", json.dumps(document).encode(), JSON)
        assert reply.status == 202, reply.text
        answer = json.loads(reply.text)
        assert answer["status"] == ("scheduled" if delay else "pending")
        ids.append(answer["job_id"])
        states.append(answer["status"])
    for action, n in steps:
        before = jobs_and_messages(server.database_url)
        reply = send(server, "POST", f"/jobs/{ids[n]}/{action}", None, {})
        statuses_seen.add(reply.status)
        after = jobs_and_messages(server.database_url)
        assert reply.status < 500
        if action == "cancel" and states[n] in ("pending", "scheduled"):
            assert reply.status == 200 and after == (before[0], before[1] - 1)
            states[n] = "cancelled"
        elif action == "cancel" and states[n] == "cancelled":
            assert reply.status == 200 and after == before
        elif action == "retry" and states[n] == "cancelled":
            assert reply.status == 202 and after == (before[0], before[1] + 1)
            states[n] = "pending"
        else:
            assert reply.status == 409, reply.text
            assert json.loads(reply.text)["error"]["code"] == "wrong_job_state"
            assert after == before
        assert json.loads(reply.text).get("status", "") in ("", states[n])


JSON = {"Content-Type": "application/json"}


# --- the OpenAPI description, through schemathesis ----------------------------------------

SPEC = Path(__file__).resolve().parents[2] / "functions" / "openapi.yaml"
schema = schemathesis.openapi.from_path(SPEC)
# Valid and invalid requests alike: the invalid ones are where a 5xx would hide.
schema.config.generation.update(modes=list(schemathesis.GenerationMode))


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_openapi_description_holds(case: schemathesis.Case[Any], server: Server) -> None:
    before = jobs_and_messages(server.database_url)
    response = case.call(base_url=f"http://127.0.0.1:{server.process.port}", timeout=30)
    # Judge the path as it was sent: a list or object parameter is serialised (joined by
    # commas), so a control character inside it shows only there, not in str() of the value.
    sent = urllib.parse.unquote(urllib.parse.urlsplit(response.request.url or "").path)
    if any(unicodedata.category(ch) == "Cc" for ch in sent):
        assert response.status_code < 500
        return  # functions-framework's own HTML 404, before any function runs (see `paths`)
    reply = Reply(response.status_code, response.text)
    check(reply, before, jobs_and_messages(server.database_url), bool(case.headers))


def test_the_fuzzers_reached_acceptance_and_each_kind_of_refusal() -> None:
    """Runs after the cases above in this module: they must have exercised both paths."""
    assert {200, 202} <= statuses_seen
    assert batch_accepted, "no batch was accepted"
    assert {400, 404, 405, 409, 413, 415, 422} <= statuses_seen, statuses_seen
