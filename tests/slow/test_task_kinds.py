"""public.task_kinds on Postgres: the migration's seed is the built-in registry, a worker's
publish adds and updates kinds, the API roles cannot read it, and the jobs API on Postgres
refuses unknown kinds and mismatched payloads with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest

from functions import once
from functions.core.models import TaskKind
from functions.core.tasks import TaskSettings, registry
from functions.db.store import PgJobStore, PgKindCatalog
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest
from tests.db_state import jobs_and_messages

DEFAULT_TIMEOUT_S = 600.0  # TASK_TIMEOUT_SECONDS' default


@pytest.fixture
def catalog(any_db_url: str) -> Iterator[PgKindCatalog]:
    yield PgKindCatalog(any_db_url, ttl_s=0)
    once.reset_all()


def test_the_migration_seeds_the_built_in_kinds_as_declared(catalog: PgKindCatalog) -> None:
    declared = {k.kind: k for k in registry.describe(TaskSettings(), DEFAULT_TIMEOUT_S)}
    assert catalog.kinds() == declared


def test_publishing_adds_and_updates_kinds_and_keeps_the_rest(catalog: PgKindCatalog) -> None:
    schema = {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
    slower = TaskKind("simulate", "Slower", {"type": "object"}, 31.0)
    catalog.publish([TaskKind("thumbnail", "Thumbnails", schema, 60.0), slower])
    kinds = catalog.kinds()
    assert kinds["thumbnail"] == TaskKind("thumbnail", "Thumbnails", schema, 60.0)
    assert kinds["simulate"] == slower
    assert {"echo", "fail", "noop"} <= set(kinds)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_the_api_roles_cannot_read_or_write_task_kinds(any_db_url: str, role: str) -> None:
    with psycopg.connect(any_db_url) as conn:
        conn.execute(f"set local role {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from public.task_kinds")
    with psycopg.connect(any_db_url) as conn:
        conn.execute(f"set local role {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into public.task_kinds (kind, time_limit_s) values ('x', 1)")


def test_the_api_on_postgres_refuses_bad_kinds_and_payloads_before_storing(
    any_db_url: str, catalog: PgKindCatalog
) -> None:
    api = SubmitApi(PgJobStore(any_db_url), kinds=catalog)

    def post(document: object) -> tuple[int, str]:
        request = HttpRequest(
            "POST", "/jobs", {"content-type": "application/json"}, {}, json.dumps(document).encode()
        )
        response = api.handle(request)
        assert isinstance(response.body, dict)
        return response.status, json.dumps(response.body)

    status, body = post({"task_name": "t", "payload": {"seconds": "abc"}})
    assert status == 400 and "payload.seconds must be a number" in body
    assert '"field": "/payload/seconds"' in body
    status, body = post({"task_name": "t", "kind": "nope"})
    assert status == 400 and "kind 'nope' is not a known task" in body
    assert '"field": "/kind"' in body
    assert jobs_and_messages(any_db_url) == (0, 0)
    assert post({"task_name": "t", "payload": {"seconds": 0}})[0] == 202
    assert jobs_and_messages(any_db_url) == (1, 1)
