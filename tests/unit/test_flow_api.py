"""Flow control's pure parts and the API around them, on the in-memory fakes: a kind's
settings as declared and published, a submission's flow fields, and dedup's 200 answer. The
enforcement itself is the database's (tests/sql/test_flow_*.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.core.errors import InvalidInput
from functions.core.flow import FlowSettings, JobFlow, parse_job_flow
from functions.core.tasks import TaskRegistry, TaskSettings
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, HttpResponse
from tests.inmemory import MemoryJobStore, MemoryKindCatalog

JSON = {"content-type": "application/json"}


def post(api: SubmitApi, document: Any) -> HttpResponse:
    body = json.dumps(document).encode()
    return api.handle(HttpRequest("POST", "/jobs", JSON, {}, body))


@pytest.fixture
def api() -> SubmitApi:
    store = MemoryJobStore()
    return SubmitApi(store, kinds=MemoryKindCatalog.builtin(store.db))


def test_a_kinds_settings_are_published_as_declared_and_nothing_more() -> None:
    registry = TaskRegistry()

    @registry.task("mail", flow=FlowSettings(concurrency_limit=2, concurrency_key="owner"))
    def mail(ctx: Any) -> None:
        """Sends mail."""

    @registry.task("plain")
    def plain(ctx: Any) -> None:
        """Nothing special."""

    kinds = {k.kind: k for k in registry.describe(TaskSettings(), 5.0)}
    assert kinds["mail"].flow == {"concurrency_limit": 2, "concurrency_key": "owner"}
    assert kinds["mail"].to_json()["flow"] == kinds["mail"].flow
    assert kinds["plain"].flow == {}


@pytest.mark.parametrize(
    "settings",
    [
        {"max_running": 0},
        {"concurrency_limit": 2, "concurrency_key": "payload.a-b"},
        {"concurrency_key": "owner"},
        {"priority_min": 5, "priority_max": 1},
        {"rate_period_s": 2},
        {"rate_limit": 10, "rate_period_s": 0},
    ],
)
def test_impossible_settings_are_refused_at_declaration(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FlowSettings(**settings)


def test_flow_fields_are_parsed_and_none_means_the_plain_path() -> None:
    assert parse_job_flow({"task_name": "x"}) is None
    assert parse_job_flow({"priority": 3, "dedup_key": "k", "debounce_seconds": 2}) == JobFlow(
        priority=3, dedup_key="k", debounce_s=2.0
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"priority": "high"}, "/priority"),
        ({"priority": True}, "/priority"),
        ({"dedup_key": ""}, "/dedup_key"),
        ({"concurrency_key": "a\nb"}, "/concurrency_key"),
        ({"concurrency_limit": 0}, "/concurrency_limit"),
        ({"debounce_seconds": 5}, "/debounce_seconds"),
        ({"dedup_key": "k", "debounce_seconds": -1}, "/debounce_seconds"),
    ],
)
def test_bad_flow_fields_are_400s_naming_the_field(
    api: SubmitApi, document: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_job_flow(document)
    assert caught.value.field == field
    response = post(api, {"task_name": "x", **document})
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_input"


def test_a_repeated_dedup_key_answers_200_with_the_first_job(api: SubmitApi) -> None:
    first = post(api, {"task_name": "report", "dedup_key": "monthly"})
    assert first.status == 202 and "deduplicated" not in first.body
    again = post(api, {"task_name": "report", "dedup_key": "monthly"})
    assert again.status == 200
    assert again.body["job_id"] == first.body["job_id"] and again.body["deduplicated"] is True
    assert again.headers["Supajobs-Deduplicated"] == "true"


def test_a_batch_item_may_not_carry_flow_fields(api: SubmitApi) -> None:
    response = post(api, [{"task_name": "x", "priority": 1}])
    assert response.status == 400
    assert response.body["error"]["field"] == "/items/0/priority"
