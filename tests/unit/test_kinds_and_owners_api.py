"""SubmitApi's typed tasks and own jobs on the in-memory fakes: unknown kinds and mismatched
payloads are 400s naming the field with nothing stored, GET /kinds, and user tokens (owner
stored, reads scoped to the owner, 401 for a bad or expired token)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jwt
import pytest

from functions.core.models import TaskKind
from functions.core.tasks import DEFAULT_KIND
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, HttpResponse
from tests.inmemory import InMemoryDatabase, MemoryJobStore, MemoryKindCatalog

SECRET = "unit-test-jwt-secret-with-at-least-32-characters"
NOW = 1_800_000_000.0
JSON = {"content-type": "application/json"}


def token(sub: str, *, secret: str = SECRET, **overrides: Any) -> str:
    claims = {"sub": sub, "aud": "authenticated", "role": "authenticated", "exp": NOW + 3600}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, "HS256")


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore(InMemoryDatabase(wall=lambda: NOW))


@pytest.fixture
def catalog(store: MemoryJobStore) -> MemoryKindCatalog:
    return MemoryKindCatalog.builtin(store.db)


@pytest.fixture
def api(store: MemoryJobStore, catalog: MemoryKindCatalog) -> SubmitApi:
    return SubmitApi(store, kinds=catalog, jwt_secret=SECRET, clock=lambda: NOW)


def call(api: SubmitApi, method: str, path: str, body: Any = None, **headers: str) -> HttpResponse:
    raw = json.dumps(body).encode() if body is not None else b""
    extra = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return api.handle(HttpRequest(method, path, {**JSON, **extra}, {}, raw))


def error(response: HttpResponse) -> tuple[int, str, str]:
    assert isinstance(response.body, dict)
    return response.status, response.body["error"]["code"], response.body["error"]["message"]


def field(response: HttpResponse) -> str | None:
    """The JSON pointer of the field an error is about (absent: none)."""
    assert isinstance(response.body, dict)
    pointer = response.body["error"].get("field")
    assert pointer is None or isinstance(pointer, str)
    return pointer


@pytest.mark.parametrize(
    ("document", "named", "pointer"),
    [
        (
            {"task_name": "t", "payload": {"seconds": "abc"}},
            "payload.seconds must be a number",
            "/payload/seconds",
        ),
        (
            {"task_name": "t", "kind": "simulate", "payload": {"seconds": -2}},
            "payload.seconds",
            "/payload/seconds",
        ),
        (
            {"task_name": "t", "kind": "fail", "payload": {"message": 3}},
            "payload.message",
            "/payload/message",
        ),
        ({"task_name": "t", "kind": "nope"}, "kind 'nope' is not a known task", "/kind"),
        ({"task_name": "t", "kind": "Nope"}, "kind must be a task name", "/kind"),
    ],
)
def test_bad_kinds_and_payloads_are_400s_naming_the_field_and_store_nothing(
    api: SubmitApi, store: MemoryJobStore, document: dict[str, Any], named: str, pointer: str
) -> None:
    response = call(api, "POST", "/jobs", document)
    status, code, message = error(response)
    assert (status, code) == (400, "invalid_input")
    assert named in message
    assert field(response) == pointer
    assert (store.jobs, store.messages) == ({}, [])


def test_the_kind_is_a_field_of_its_own_and_defaults_to_the_registrys(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    """A payload's own "kind" is data like any other: only the top-level field picks the task."""
    named = call(api, "POST", "/jobs", {"task_name": "t", "kind": "noop", "payload": {"n": 1}})
    unnamed = call(api, "POST", "/jobs", {"task_name": "t", "payload": {"kind": "noop"}})
    jobs = [store.jobs[uuid.UUID(r.body["job_id"])] for r in (named, unnamed)]
    assert [(j.kind, j.payload) for j in jobs] == [
        ("noop", {"n": 1}),
        (DEFAULT_KIND, {"kind": "noop"}),
    ]
    listed = call(api, "GET", "/kinds").body
    assert listed["default"] == DEFAULT_KIND
    assert DEFAULT_KIND in [k["kind"] for k in listed["kinds"]]


def test_the_unknown_kind_message_lists_the_known_ones(api: SubmitApi) -> None:
    _, _, message = error(call(api, "POST", "/jobs", {"task_name": "t", "kind": "nope"}))
    assert "echo, fail, noop, simulate" in message


def test_matching_payloads_are_accepted(api: SubmitApi, store: MemoryJobStore) -> None:
    for document in (
        {"task_name": "a", "payload": {"seconds": 0.5}},
        {"task_name": "b", "kind": "echo", "payload": {"anything": [1, {"x": None}]}},
        {"task_name": "c", "kind": "fail", "payload": {"message": "boom"}},
    ):
        assert call(api, "POST", "/jobs", document).status == 202
    assert len(store.jobs) == 3


def test_a_kind_published_later_is_accepted(api: SubmitApi, catalog: MemoryKindCatalog) -> None:
    document = {"task_name": "t", "kind": "resize", "payload": {"width": "wide"}}
    assert call(api, "POST", "/jobs", document).status == 400
    schema = {"type": "object", "properties": {"width": {"type": "integer"}}}
    catalog.publish([TaskKind("resize", "Resizes", schema, 30.0)])
    assert "payload.width" in error(call(api, "POST", "/jobs", document))[2]
    document["payload"] = {"width": 64}
    assert call(api, "POST", "/jobs", document).status == 202


def test_get_kinds_lists_each_kind_with_its_schema_and_limit(api: SubmitApi) -> None:
    response = call(api, "GET", "/kinds")
    assert response.status == 200
    assert isinstance(response.body, dict)
    kinds = {k["kind"]: k for k in response.body["kinds"]}
    assert sorted(kinds) == ["echo", "fail", "noop", "simulate"]
    seconds = kinds["simulate"]["payload_schema"]["properties"]["seconds"]
    assert seconds["type"] == "number"
    assert kinds["simulate"]["time_limit_s"] == 11.0
    assert all(k["description"] for k in kinds.values())
    assert call(api, "POST", "/kinds", {}).status == 405


def test_a_user_token_makes_the_job_theirs_and_reads_are_scoped(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    as_alice = {"authorization": f"Bearer {token(alice)}"}
    as_bob = {"authorization": f"Bearer {token(bob)}"}
    mine = call(api, "POST", "/jobs", {"task_name": "alice's"}, **as_alice)
    public = call(api, "POST", "/jobs", {"task_name": "demo"})
    assert (mine.status, public.status) == (202, 202)
    assert isinstance(mine.body, dict) and isinstance(public.body, dict)
    mine_id, public_id = mine.body["job_id"], public.body["job_id"]
    assert str(store.jobs[uuid.UUID(mine_id)].owner_id) == alice
    assert store.jobs[uuid.UUID(public_id)].owner_id is None

    def listed(**headers: str) -> list[str]:
        body = call(api, "GET", "/jobs", **headers).body
        assert isinstance(body, dict)
        return [j["job_id"] for j in body["jobs"]]

    assert listed(**as_alice) == [mine_id]
    assert listed(**as_bob) == []
    assert listed() == [public_id]
    assert call(api, "GET", f"/jobs/{mine_id}", **as_alice).status == 200
    assert call(api, "GET", f"/jobs/{mine_id}", **as_bob).status == 404
    assert call(api, "GET", f"/jobs/{mine_id}").status == 404
    assert call(api, "GET", f"/jobs/{public_id}", **as_alice).status == 404


def test_cancel_retry_and_events_of_an_owned_job_are_its_owners_alone(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    as_alice = {"authorization": f"Bearer {token(alice)}"}
    as_bob = {"authorization": f"Bearer {token(bob)}"}
    mine = call(api, "POST", "/jobs", {"task_name": "alice's", "delay_seconds": 60}, **as_alice)
    assert isinstance(mine.body, dict) and mine.body["status"] == "scheduled"
    mine_id = mine.body["job_id"]
    for action in ("cancel", "retry"):
        for stranger in (as_bob, {}):  # another user, and an anonymous caller
            status, code, _ = error(call(api, "POST", f"/jobs/{mine_id}/{action}", **stranger))
            assert (status, code) == (404, "not_found")
    assert store.jobs[uuid.UUID(mine_id)].status.value == "scheduled"  # untouched
    assert call(api, "POST", f"/jobs/{mine_id}/cancel", **as_alice).status == 200
    detail = call(api, "GET", f"/jobs/{mine_id}", **as_alice).body
    assert isinstance(detail, dict)
    assert [e["event"] for e in detail["events"]] == ["scheduled", "cancelled"]
    assert store.events(uuid.UUID(mine_id), uuid.UUID(bob)) == []
    query = {"status": "cancelled"}
    cancelled = api.handle(HttpRequest("GET", "/jobs", as_alice, query)).body
    assert isinstance(cancelled, dict) and [j["job_id"] for j in cancelled["jobs"]] == [mine_id]
    assert api.handle(HttpRequest("GET", "/jobs", {}, query)).body == {"jobs": []}
    assert call(api, "POST", f"/jobs/{mine_id}/retry", **as_alice).status == 202


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {token(str(uuid.uuid4()), exp=NOW - 60)}",  # expired
        f"Bearer {token(str(uuid.uuid4()), secret='another-projects-secret-of-32-characters')}",
        f"Bearer {token(str(uuid.uuid4()), aud='anon')}",
        f"Bearer {token(str(uuid.uuid4()), aud=None)}",
        f"Bearer {token(str(uuid.uuid4()), exp=None)}",
        f"Bearer {token('not-a-uuid')}",
        f"Bearer {token(str(uuid.uuid4()), role='service_role')}",
        "Bearer "
        + jwt.encode(
            {"sub": str(uuid.uuid4()), "aud": "authenticated", "exp": NOW + 60}, "", "none"
        ),
        "Bearer not.a.jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_a_bad_token_is_401_and_stores_nothing(
    api: SubmitApi, store: MemoryJobStore, authorization: str
) -> None:
    status, code, message = error(
        call(api, "POST", "/jobs", {"task_name": "x"}, authorization=authorization)
    )
    assert (status, code) == (401, "unauthorized")
    assert "eyJ" not in message  # never echoes the token
    assert store.jobs == {}
    assert call(api, "GET", "/jobs", authorization=authorization).status == 401


def test_without_a_jwt_secret_tokens_are_refused(store: MemoryJobStore) -> None:
    api = SubmitApi(store, kinds=MemoryKindCatalog.builtin(store.db), clock=lambda: NOW)
    bearer = f"Bearer {token(str(uuid.uuid4()))}"
    assert call(api, "POST", "/jobs", {"task_name": "x"}, authorization=bearer).status == 401
    assert call(api, "POST", "/jobs", {"task_name": "x"}).status == 202


# --- batches: each item is checked and owned as a single job is -----------------------------


@pytest.mark.parametrize(
    ("bad", "named", "pointer"),
    [
        (
            {"task_name": "t", "payload": {"seconds": "abc"}},
            "items[3].payload.seconds must be",
            "/items/3/payload/seconds",
        ),
        (
            {"task_name": "t", "kind": "fail", "payload": {"message": 3}},
            "items[3].payload.message",
            "/items/3/payload/message",
        ),
        (
            {"task_name": "t", "kind": "nope"},
            "items[3].kind 'nope' is not a known task",
            "/items/3/kind",
        ),
        ({"task_name": " ", "kind": "noop"}, "items[3].task_name", "/items/3/task_name"),
    ],
)
def test_a_batch_item_with_a_bad_kind_or_payload_refuses_the_batch_naming_it(
    api: SubmitApi, store: MemoryJobStore, bad: dict[str, Any], named: str, pointer: str
) -> None:
    good = {"task_name": "ok", "kind": "simulate", "payload": {"seconds": 0.1}}
    response = call(api, "POST", "/jobs", [good, good, good, bad, good])
    status, code, message = error(response)
    assert (status, code) == (400, "invalid_input")
    assert named in message
    assert field(response) == pointer
    assert (store.jobs, store.messages) == ({}, [])


def test_a_batch_of_a_kind_published_later_is_accepted(
    api: SubmitApi, catalog: MemoryKindCatalog, store: MemoryJobStore
) -> None:
    batch = [{"task_name": "t", "kind": "resize"}] * 2
    assert call(api, "POST", "/jobs", batch).status == 400
    catalog.publish([TaskKind("resize", "", {"type": "object"}, 30.0)])
    assert call(api, "POST", "/jobs", batch).status == 202
    assert len(store.jobs) == 2


def test_a_signed_in_callers_batch_is_theirs_and_reads_are_scoped(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    as_alice = {"authorization": f"Bearer {token(alice)}"}
    answer = call(api, "POST", "/jobs", [{"task_name": "a"}, {"task_name": "b"}], **as_alice)
    public = call(api, "POST", "/jobs", [{"task_name": "demo"}])
    assert (answer.status, public.status) == (202, 202)
    assert isinstance(answer.body, dict) and isinstance(public.body, dict)
    ids = answer.body["job_ids"]
    assert [str(store.jobs[uuid.UUID(i)].owner_id) for i in ids] == [alice, alice]
    assert store.jobs[uuid.UUID(public.body["job_ids"][0])].owner_id is None
    listed = call(api, "GET", "/jobs", **as_alice).body
    assert isinstance(listed, dict)
    assert sorted(j["job_id"] for j in listed["jobs"]) == sorted(ids)
    for job_id in ids:
        assert (
            call(api, "GET", f"/jobs/{job_id}", authorization=f"Bearer {token(bob)}").status == 404
        )
        assert call(api, "GET", f"/jobs/{job_id}").status == 404


def test_a_batch_with_a_bad_token_is_401_and_stores_nothing(
    api: SubmitApi, store: MemoryJobStore
) -> None:
    expired = token(str(uuid.uuid4()), exp=NOW - 60)
    status, code, _ = error(
        call(api, "POST", "/jobs", [{"task_name": "x"}], authorization=f"Bearer {expired}")
    )
    assert (status, code) == (401, "unauthorized")
    assert store.jobs == {}
