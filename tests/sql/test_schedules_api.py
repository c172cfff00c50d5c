"""The schedules routes of the jobs API on the real database (SubmitApi over PgJobStore, no
server): create, list, pause, resume and delete, each caller's own, and 4xx for bad input."""

from __future__ import annotations

import json
from typing import Any

from functions.db.store import PgJobStore, PgKindCatalog
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, HttpResponse

JSON = {"content-type": "application/json"}


def call(api: SubmitApi, method: str, path: str, document: Any = None) -> HttpResponse:
    body = json.dumps(document).encode() if document is not None else b""
    return api.handle(HttpRequest(method, path, JSON if body else {}, {}, body))


def test_schedules_through_the_api(db_url: str) -> None:
    store = PgJobStore(db_url)
    api = SubmitApi(store, kinds=PgKindCatalog(db_url), schedules=store)
    nightly = {"name": "nightly", "cron": "0 3 * * *", "task_name": "Report", "kind": "noop"}
    created = call(api, "POST", "/schedules", nightly)
    assert created.status == 201, created.body
    schedule_id = created.body["schedule_id"]
    assert created.body["next_run_at"].endswith("03:00:00+00:00")
    assert call(api, "POST", "/schedules", nightly).status == 409
    bad = call(api, "POST", "/schedules", {**nightly, "name": "x", "cron": "0 25 * * *"})
    assert (bad.status, bad.body["error"]["field"]) == (400, "/cron")
    unknown = call(api, "POST", "/schedules", {**nightly, "name": "y", "kind": "nope"})
    assert (unknown.status, unknown.body["error"]["field"]) == (400, "/kind")
    assert [s["name"] for s in call(api, "GET", "/schedules").body["schedules"]] == ["nightly"]
    paused = call(api, "POST", f"/schedules/{schedule_id}/pause")
    assert (paused.status, paused.body["paused"]) == (200, True)
    resumed = call(api, "POST", f"/schedules/{schedule_id}/resume")
    assert (resumed.status, resumed.body["paused"]) == (200, False)
    assert call(api, "DELETE", f"/schedules/{schedule_id}").status == 200
    assert call(api, "DELETE", f"/schedules/{schedule_id}").status == 404
    assert call(api, "POST", "/schedules/not-an-id/pause").status == 400
