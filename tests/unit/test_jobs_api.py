"""SubmitApi on the in-memory JobStore: validation, idempotency decisions, error mapping, CORS,
query parameters and headers, with no database and no server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from functions.core.tasks import DEFAULT_KIND
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, HttpResponse
from tests.inmemory import IDEMPOTENCY_TTL_S, InMemoryDatabase, MemoryJobStore, MemoryKindCatalog

# A fixed id, not uuid4(): pytest-xdist workers must collect the same test ids.
NO_SUCH_JOB = uuid.UUID("5b0e6a3c-2f1d-4c8e-9a7b-3d2c1b0a9f8e")

JSON = {"content-type": "application/json"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryJobStore:
    return MemoryJobStore(InMemoryDatabase(wall=clock))


@pytest.fixture
def api(store: MemoryJobStore) -> SubmitApi:
    return SubmitApi(
        store, cors_origin="https://app.example", kinds=MemoryKindCatalog.builtin(store.db)
    )


def call(
    api: SubmitApi,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> HttpResponse:
    return api.handle(HttpRequest(method, path, headers or {}, query or {}, body))


def post(api: SubmitApi, document: Any, **headers: str) -> HttpResponse:
    extra = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return call(api, "POST", "/jobs", json.dumps(document).encode(), {**JSON, **extra})


def stored(store: MemoryJobStore) -> tuple[int, int]:
    return len(store.jobs), len(store.messages)


def assert_error(response: HttpResponse, status: int, code: str, names: str = "") -> None:
    assert response.status == status, response.body
    assert set(response.body) == {"error"}
    assert set(response.body["error"]) - {"field"} == {"code", "message"}
    assert response.body["error"]["code"] == code
    assert names in response.body["error"]["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_a_submission_is_stored_as_a_row_and_a_message(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    response = post(api, {"task_name": " Report ", "kind": "noop", "payload": {"n": 1}})
    assert response.status == 202
    job_id = uuid.UUID(response.body["job_id"])
    assert response.headers["Location"] == f"/jobs/{job_id}"
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    job = store.jobs[job_id]
    assert (job.task_name, job.kind, job.payload) == ("Report", "noop", {"n": 1})
    assert store.messages == [{"msg_id": 1, "job_id": str(job_id)}]


DEEP = b'{"task_name": "x", "payload": {"a": ' + b"[" * 70 + b"]" * 70 + b"}}"

BAD_POSTS: list[tuple[bytes, dict[str, str], int, str, str]] = [
    (b"{bad", JSON, 400, "invalid_input", "not valid JSON"),
    (b'{"task_name": "x", "payload": {"n": NaN}}', JSON, 400, "invalid_input", "NaN"),
    (b'{"task_name": "x", "payload": {"n": -Infinity}}', JSON, 400, "invalid_input", "Infinity"),
    (b'{"task_name": "x", "payload": {"n": 1e999}}', JSON, 400, "invalid_input", "too large"),
    (b'{"task_name": "x\\ud800"}', JSON, 400, "invalid_input", "surrogate"),
    (b'{"task_name": "x", "payload": {"\\udfff": 1}}', JSON, 400, "invalid_input", "surrogate"),
    (b'{"task_name": "x", "task_name": "y"}', JSON, 400, "invalid_input", "repeats the key"),
    (DEEP, JSON, 400, "invalid_input", "limit is 64"),
    (b"[" * 100_000, JSON, 400, "invalid_input", "limit is 64"),
    (b'{"task_name": "' + b"9" * 5000 + b'"}', JSON, 400, "invalid_input", "limit is 200"),
    (b'{"task_name": "x", "payload": {"n": ' + b"9" * 5000 + b"}}", JSON, 400, "invalid_input", ""),
    (b'{"task_name": "a\\u0000b"}', JSON, 400, "invalid_input", "control"),
    (b"\xff\xfe{}", JSON, 400, "invalid_input", "UTF-8"),
    (b'"just a string"', JSON, 400, "invalid_input", "JSON object"),
    (b'{"task_name": "x"}', {}, 415, "unsupported_media_type", "Content-Type"),
    (b'{"task_name": "x"}', {"content-type": "text/plain"}, 415, "unsupported_media_type", ""),
    (
        b'{"task_name": "x"}',
        {"content-type": "application/json; charset=latin-1"},
        415,
        "unsupported_media_type",
        "latin-1",
    ),
    (b"{" + b" " * 300_000 + b"}", JSON, 413, "payload_too_large", "limit"),
    (
        b'{"task_name": "x"}',
        {**JSON, "idempotency-key": ""},
        400,
        "invalid_input",
        "Idempotency-Key",
    ),
    (
        b'{"task_name": "x"}',
        {**JSON, "idempotency-key": "k" * 201},
        400,
        "invalid_input",
        "Idempotency-Key",
    ),
    (
        b'{"task_name": "x"}',
        {**JSON, "idempotency-key": "caf\u00e9"},
        400,
        "invalid_input",
        "Idempotency-Key",
    ),
    (
        b'{"task_name": "x"}',
        {**JSON, "idempotency-key": '"unterminated\\"'},
        400,
        "invalid_input",
        "Idempotency-Key",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "code", "names"), BAD_POSTS)
def test_bad_submissions_are_a_json_4xx_with_cors_and_store_nothing(
    api: SubmitApi,
    store: MemoryJobStore,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    names: str,
) -> None:
    assert_error(call(api, "POST", "/jobs", body, headers), status, code, names)
    assert stored(store) == (0, 0)


def test_charset_utf8_is_accepted(api: SubmitApi) -> None:
    headers = {"content-type": 'application/json; charset="UTF-8"'}
    assert call(api, "POST", "/jobs", b'{"task_name": "x"}', headers).status == 202


@pytest.mark.parametrize(
    ("method", "path", "query", "status", "names"),
    [
        ("GET", "/jobs", {"limit": "0"}, 400, "limit"),
        ("GET", "/jobs", {"limit": "101"}, 400, "limit"),
        ("GET", "/jobs", {"limit": ""}, 400, "limit"),
        ("GET", "/jobs", {"limit": " 5"}, 400, "limit"),
        ("GET", "/jobs", {"limit": "\u0665"}, 400, "limit"),  # an Arabic-Indic five
        ("GET", "/jobs", {"limit": "2,3"}, 400, "limit"),  # given twice
        ("GET", "/jobs", {"limt": "2"}, 400, "limt"),
        ("POST", "/jobs", {"debug": "1"}, 400, "debug"),
        ("GET", f"/jobs/{NO_SUCH_JOB}", {"x": "1"}, 400, "x"),
        ("GET", "/jobs/not-a-uuid", {}, 400, "not-a-uuid"),
        ("GET", f"/jobs/{NO_SUCH_JOB.hex}", {}, 400, "UUID"),
        ("GET", f"/jobs/{{{NO_SUCH_JOB}}}", {}, 400, "UUID"),
        ("GET", f"/jobs/{NO_SUCH_JOB}", {}, 404, "no job"),
        ("GET", "/elsewhere", {}, 404, "/jobs"),
        ("DELETE", "/jobs", {}, 405, "DELETE"),
        ("PUT", f"/jobs/{NO_SUCH_JOB}", {}, 405, "PUT"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    api: SubmitApi,
    store: MemoryJobStore,
    method: str,
    path: str,
    query: dict[str, str],
    status: int,
    names: str,
) -> None:
    codes = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed"}
    response = call(api, method, path, b'{"task_name": "x"}', JSON, query)
    assert_error(response, status, codes[status], names)
    assert stored(store) == (0, 0)


def test_list_is_newest_first_limited_and_defaults_to_20(api: SubmitApi, clock: Clock) -> None:
    ids = []
    for n in range(25):
        clock.now += 1
        ids.append(post(api, {"task_name": f"n{n}"}).body["job_id"])
    two = call(api, "GET", "/jobs", query={"limit": "2"})
    assert [j["job_id"] for j in two.body["jobs"]] == ids[::-1][:2]
    default = call(api, "GET", "/jobs")
    assert [j["job_id"] for j in default.body["jobs"]] == ids[::-1][:20]
    assert len(call(api, "HEAD", "/stage/jobs", query={"limit": "100"}).body["jobs"]) == 25


def test_get_finds_a_job_behind_any_prefix(api: SubmitApi) -> None:
    job_id = post(api, {"task_name": "one"}).body["job_id"]
    response = call(api, "GET", f"/prod/jobs/{job_id.upper()}")
    assert response.status == 200
    assert (response.body["job_id"], response.body["status"]) == (job_id, "pending")


def test_a_retried_submission_gets_the_first_job(api: SubmitApi, store: MemoryJobStore) -> None:
    first = post(api, {"task_name": "a", "payload": {"x": 1, "y": 2}}, idempotency_key="k1")
    again = post(api, {"payload": {"y": 2, "x": 1}, "task_name": " a"}, idempotency_key="k1")
    # The IETF draft's form, a quoted sf-string, names the same key.
    quoted = post(api, {"task_name": "a", "payload": {"x": 1, "y": 2}}, idempotency_key='"k1"')
    assert first.status == again.status == quoted.status == 202
    assert first.body == again.body == quoted.body
    assert stored(store) == (1, 1)


def test_a_key_reused_with_a_different_body_is_422(api: SubmitApi, store: MemoryJobStore) -> None:
    post(api, {"task_name": "a"}, idempotency_key="k1")
    assert_error(post(api, {"task_name": "b"}, idempotency_key="k1"), 422, "idempotency_key_reused")
    assert stored(store) == (1, 1)


def test_a_key_still_in_flight_is_409(api: SubmitApi, store: MemoryJobStore) -> None:
    store.in_flight.add("k1")
    response = post(api, {"task_name": "a"}, idempotency_key="k1")
    assert_error(response, 409, "idempotency_key_in_flight", "retry")
    assert stored(store) == (0, 0)


def test_keys_expire_after_a_day(api: SubmitApi, store: MemoryJobStore, clock: Clock) -> None:
    first = post(api, {"task_name": "a"}, idempotency_key="k1").body["job_id"]
    clock.now += IDEMPOTENCY_TTL_S - 1
    assert post(api, {"task_name": "b"}, idempotency_key="k1").status == 422
    clock.now += 1
    second = post(api, {"task_name": "b"}, idempotency_key="k1")
    assert second.status == 202 and second.body["job_id"] != first
    assert list(store.keys) == ["k1"]


def test_preflight_answers_with_cors(api: SubmitApi) -> None:
    response = call(api, "OPTIONS", "/jobs", headers={"origin": "https://app.example"})
    assert response.status == 204 and response.body is None
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in response.headers["Access-Control-Allow-Headers"]


def test_a_database_that_is_down_is_503_with_cors(api: SubmitApi, store: MemoryJobStore) -> None:
    store.unavailable = True
    assert_error(post(api, {"task_name": "a"}), 503, "unavailable", "database")
    assert_error(call(api, "GET", "/jobs"), 503, "unavailable")


def test_an_unexpected_error_is_a_bare_500_and_the_traceback_goes_to_the_log(
    store: MemoryJobStore, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(MemoryJobStore):
        def newest(self, limit: int, status: Any = None, owner: Any = None) -> list[Any]:
            raise RuntimeError("secret detail")

    response = SubmitApi(Broken(), "*", kinds=MemoryKindCatalog.builtin()).handle(
        HttpRequest("GET", "/jobs", {})
    )
    assert response.status == 500
    assert response.body == {"error": {"code": "internal", "message": "an internal error occurred"}}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


def test_each_refusal_logs_one_short_line(api: SubmitApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="functions.http")
    call(api, "POST", "/jobs", b"[" * 100_000, JSON)
    lines = [r.getMessage() for r in caplog.records if r.name == "functions.http"]
    assert len(lines) == 1
    assert lines[0].startswith("POST /jobs -> 400 invalid_input")
    assert len(lines[0]) < 300


# --- batches ---------------------------------------------------------------------------------


def test_an_array_is_a_batch_answered_with_its_ids_in_order(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    response = post(api, [{"task_name": "a", "kind": "noop"}, {"task_name": "b"}])
    assert response.status == 202, response.body
    assert response.body["status"] == "pending"
    ids = [uuid.UUID(text) for text in response.body["job_ids"]]
    assert [store.jobs[i].task_name for i in ids] == ["a", "b"]
    assert [(store.jobs[i].kind, store.jobs[i].payload) for i in ids] == [
        ("noop", {}),
        (DEFAULT_KIND, {}),
    ]
    assert stored(store) == (2, 2)
    # Each job of a batch has its own history, opened as a single job's is.
    assert [[e.event for e in store.events(i)] for i in ids] == [["submitted"], ["submitted"]]


@pytest.mark.parametrize(
    ("document", "names", "pointer"),
    [
        ([], "1 to 1000 jobs", None),
        ([{"task_name": "a"}] * 1001, "1 to 1000 jobs", None),
        ([{"task_name": "a"}, "b"], "items[1] must be a JSON object", "/items/1"),
        ([{"task_name": "a"}, {}], "items[1].task_name is required", "/items/1/task_name"),
        (
            [{"task_name": "a"}, {"task_name": "b", "kind": "Bad"}],
            "items[1].kind must be",
            "/items/1/kind",
        ),
        (
            [{"task_name": "a"}, {"task_name": "b", "payload": 3}],
            "items[1].payload must be",
            "/items/1/payload",
        ),
        (
            [{"task_name": "a"}, {"task_name": "b", "x": 1}],
            "items[1]: unknown field(s): x",
            "/items/1/x",
        ),
        ([[{"task_name": "a"}]], "items[0] must be a JSON object", "/items/0"),
        (
            [{"task_name": "a"}, {"task_name": "b", "delay_seconds": 5}],
            "items[1].delay_seconds: a batch's jobs start at once",
            "/items/1/delay_seconds",
        ),
        (
            [{"task_name": "a", "run_at": "2026-12-01T09:30:00Z"}],
            "items[0].run_at: a batch's jobs start at once",
            "/items/0/run_at",
        ),
    ],
)
def test_a_bad_batch_is_refused_whole_naming_the_item(
    api: SubmitApi, store: MemoryJobStore, document: Any, names: str, pointer: str | None
) -> None:
    response = post(api, document)
    assert_error(response, 400, "invalid_input", names)
    assert response.body["error"].get("field") == pointer
    assert stored(store) == (0, 0)


def test_a_key_covers_the_whole_batch_body(api: SubmitApi, store: MemoryJobStore) -> None:
    batch = [{"task_name": "a"}, {"task_name": "b"}]
    first = post(api, batch, idempotency_key="k")
    assert post(api, batch, idempotency_key="k").body == first.body
    assert_error(post(api, batch[::-1], idempotency_key="k"), 422, "idempotency_key_reused")
    assert_error(post(api, batch[0], idempotency_key="k"), 422, "idempotency_key_reused")
    assert stored(store) == (2, 2)
