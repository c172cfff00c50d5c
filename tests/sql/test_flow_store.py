"""The functions' store against the real database: submit_flow's dedup answer, the kinds'
flow settings as GET /kinds reads them, and why a job waits."""

from __future__ import annotations

import psycopg

from functions.core.flow import FlowSettings, JobFlow
from functions.core.models import NewJob, TaskKind
from functions.db.store import PgJobStore, PgKindCatalog


def test_published_settings_are_read_back_and_enforced(db_url: str) -> None:
    catalog = PgKindCatalog(db_url, ttl_s=0)
    limited = FlowSettings(max_running=1, priority_max=3)
    catalog.publish(
        [TaskKind("capped", "One at a time.", {"type": "object"}, 5.0, limited.to_json())]
    )
    assert catalog.kinds()["capped"].flow == {"max_running": 1, "priority_max": 3}
    store = PgJobStore(db_url)
    first = store.submit(NewJob("one", {}, kind="capped"))
    second, deduplicated = store.submit_flow(
        NewJob("two", {}, kind="capped", flow=JobFlow(priority=3, dedup_key="d"))
    )
    assert deduplicated is False
    assert store.wait_reason(first) == {
        "reason": "admitted",
        "message": "in the queue, waiting for a worker",
    }
    waiting = store.wait_reason(second)
    assert waiting is not None and waiting["reason"] == "max_running"
    assert waiting["message"] == "waiting: 1 of 1 running for this kind"
    again = store.submit_flow(NewJob("two", {}, kind="capped", flow=JobFlow(dedup_key="d")))
    assert again == (second, True)
    job = store.get(second)
    assert job is not None and (job.priority, job.dedup_key) == (3, "d")
    with psycopg.connect(db_url, autocommit=True) as db:
        db.execute("select cancel_job(%s)", (first,))
    assert store.wait_reason(second) == {
        "reason": "admitted",
        "message": "in the queue, waiting for a worker",
    }
