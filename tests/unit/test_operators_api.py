"""The operators' routes of the jobs API on fakes: GET /stats only for a configured key or an
admin user (401 without credentials, 403 for anyone else, keys compared as whole values);
GET /failures and POST /jobs/retry scoped like a single retry (an operator's reach every
owner), with their input checked before the store is asked."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from functions.config import ConfigError
from functions.core.errors import JobsChanged
from functions.core.operations import FailureFilter, FailureGroup, Scope
from functions.http.operators import Operators
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, HttpResponse
from tests.inmemory import InMemoryDatabase, MemoryJobStore, MemoryKindCatalog

SECRET = "unit-test-jwt-secret-with-at-least-32-characters"
NOW = 1_800_000_000.0
SERVICE_KEY = "sb_secret_operator-key-for-the-unit-tests"
ADMIN, USER = uuid.uuid4(), uuid.uuid4()
AT = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)


def token(sub: uuid.UUID) -> str:
    claims = {"sub": str(sub), "aud": "authenticated", "role": "authenticated", "exp": NOW + 60}
    return jwt.encode(claims, SECRET, "HS256")


class FakeOps:
    def __init__(self) -> None:
        self.asked: list[tuple[str, Any, Any]] = []
        self.changed = False

    def metrics(self, window_s: int) -> dict[str, Any]:
        self.asked.append(("metrics", window_s, None))
        return {"window_s": window_s, "overall": {}, "kinds": {}}

    def failures(
        self, scope: Scope, wanted: FailureFilter, limit: int
    ) -> tuple[datetime, list[FailureGroup]]:
        self.asked.append(("failures", scope, wanted))
        return AT, [FailureGroup("noop", "ValueError: x", 3, AT, AT, (uuid.uuid4(),))]

    def retry_many(self, scope: Scope, wanted: FailureFilter) -> int:
        self.asked.append(("retry", scope, wanted))
        if self.changed:
            raise JobsChanged("2 jobs match now, not the 3 expected; none was retried", "/expect")
        return 3


@pytest.fixture
def ops() -> FakeOps:
    return FakeOps()


@pytest.fixture
def api(ops: FakeOps) -> SubmitApi:
    store = MemoryJobStore(InMemoryDatabase(wall=lambda: NOW))
    return SubmitApi(
        store,
        kinds=MemoryKindCatalog.builtin(store.db),
        jwt_secret=SECRET,
        clock=lambda: NOW,
        ops=ops,
        operators=Operators((SERVICE_KEY,), frozenset({ADMIN})),
    )


def call(
    api: SubmitApi,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    **headers: str,
) -> HttpResponse:
    raw = json.dumps(body).encode() if body is not None else b""
    extra = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return api.handle(
        HttpRequest(method, path, {"content-type": "application/json", **extra}, query or {}, raw)
    )


def code(response: HttpResponse) -> tuple[int, str]:
    assert isinstance(response.body, dict)
    return response.status, response.body["error"]["code"]


def test_stats_answer_an_operator_key_or_an_admin_user(api: SubmitApi, ops: FakeOps) -> None:
    by_key = call(
        api, "GET", "/stats", query={"window": "60"}, authorization=f"Bearer {SERVICE_KEY}"
    )
    assert by_key.status == 200 and by_key.body == {"window_s": 60, "overall": {}, "kinds": {}}
    by_apikey = call(api, "GET", "/stats", apikey=SERVICE_KEY)
    assert by_apikey.status == 200
    by_admin = call(api, "GET", "/stats", authorization=f"Bearer {token(ADMIN)}")
    assert by_admin.status == 200
    assert [a[1] for a in ops.asked] == [60, 300, 300]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, (401, "unauthorized")),
        ({"authorization": f"Bearer {token(USER)}"}, (403, "forbidden")),
        ({"authorization": f"Bearer {SERVICE_KEY[:-1]}"}, (401, "unauthorized")),  # a prefix
        ({"authorization": f"Bearer {SERVICE_KEY}x"}, (401, "unauthorized")),
        ({"apikey": "sb_publishable_anyone"}, (401, "unauthorized")),
    ],
)
def test_stats_refuse_everyone_else_before_reading(
    api: SubmitApi, ops: FakeOps, headers: dict[str, str], expected: tuple[int, str]
) -> None:
    assert code(api.handle(HttpRequest("GET", "/stats", headers, {}, b""))) == expected
    assert ops.asked == []


def test_stats_check_the_window(api: SubmitApi) -> None:
    auth = {"authorization": f"Bearer {SERVICE_KEY}"}
    for bad in ("5", "abc", "100000", "-1"):
        response = call(api, "GET", "/stats", query={"window": bad}, **auth)
        assert code(response) == (400, "invalid_input"), bad
    assert code(call(api, "GET", "/stats", query={"since": "1"}, **auth)) == (400, "invalid_input")


def test_failures_are_scoped_like_a_single_retry(api: SubmitApi, ops: FakeOps) -> None:
    query = {"kind": "noop", "since": "2027-01-15T00:00:00Z"}
    anonymous = call(api, "GET", "/failures", query=query)
    assert anonymous.status == 200
    assert isinstance(anonymous.body, dict) and anonymous.body["jobs"] == 3
    assert anonymous.body["at"] == AT.isoformat()
    call(api, "GET", "/failures", authorization=f"Bearer {token(USER)}")
    call(api, "GET", "/failures", authorization=f"Bearer {SERVICE_KEY}")
    scopes = [a[1] for a in ops.asked]
    assert scopes == [Scope(None), Scope(USER), Scope(None, any_owner=True)]
    first = ops.asked[0][2]
    assert first.kind == "noop" and first.since == datetime(2027, 1, 15, tzinfo=UTC)


def test_a_bulk_retry_answers_how_many_or_refuses_all(api: SubmitApi, ops: FakeOps) -> None:
    body = {"kind": "noop", "error": "ValueError: x", "until": "2027-01-15T09:30:00Z", "expect": 3}
    done = call(api, "POST", "/jobs/retry", body, authorization=f"Bearer {token(USER)}")
    assert done.status == 200 and done.body == {"retried": 3}
    assert ops.asked[-1][1] == Scope(USER) and ops.asked[-1][2].expect == 3
    ops.changed = True
    assert code(call(api, "POST", "/jobs/retry", body)) == (409, "jobs_changed")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"colour": "red"},
        {"status": "completed"},
        {"kind": "Not A Kind"},
        {"error": "two\nlines"},
        {"since": "yesterday"},
        {"since": "2027-01-02T00:00:00Z", "until": "2027-01-01T00:00:00Z"},
        {"job_ids": []},
        {"job_ids": ["not-a-uuid"]},
        {"expect": -1},
        {"expect": True},
    ],
)
def test_a_bulk_retry_checks_its_filter_first(api: SubmitApi, ops: FakeOps, body: Any) -> None:
    assert code(call(api, "POST", "/jobs/retry", body)) == (400, "invalid_input")
    assert ops.asked == []


def test_operators_come_from_the_environment() -> None:
    env = {
        "SUPABASE_SECRET_KEY": "sb_secret_x",
        "SUPAJOBS_ADMIN_USER_IDS": f"{ADMIN}, {USER}",
    }
    operators = Operators.from_env(env)
    assert operators.keys == ("sb_secret_x",) and operators.user_ids == {ADMIN, USER}
    assert Operators.from_env({}).keys == ()
    with pytest.raises(ConfigError, match="not a user id"):
        Operators.from_env({"SUPAJOBS_ADMIN_USER_IDS": "alice"})
