"""One trace per job across the three function processes, with the OpenTelemetry SDK loaded
into each as a deployment would (tests/tracing_site/sitecustomize.py, spans appended to a file
as they end) and the functions using the API only: a job submitted with a traceparent has its
submit, claim, attempt and result-write spans in the caller's trace, in that order, each with
the right parent and the job id and kind; its claim links to the drain, whose parent is the
wake-up's delivery in the webhook; and the job's row stores the submit span's context."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import ROOT, fresh_database, get_server
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for

SITE = ROOT / "tests" / "tracing_site"


@contextmanager
def traced_stack(spans: Path) -> Iterator[Stack]:
    env = {
        "PYTHONPATH": f"{SITE}{os.pathsep}{ROOT}",
        "SUPAJOBS_TEST_SPANS": str(spans),
        # What switches tracing on in the functions: a deployment's exporter setting.
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "supajobs-test",
    }
    with (
        contextmanager(fresh_database)(get_server("embedded")) as database_url,
        running_stack(database_url, every_env=env) as stack,
    ):
        yield stack


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_one_job_is_one_trace_across_submit_webhook_and_process_job(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with traced_stack(spans_file) as stack:
        status, body = stack.request(
            "submit",
            "POST",
            "/jobs",
            {"task_name": "traced", "kind": "echo", "payload": {"n": 1}},
            headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
        )
        assert status == 202, body
        job_id = body["job_id"]
        stack.wait_for_status(job_id, "completed")

        def written() -> list[dict[str, Any]] | None:
            """Every span, once the result write and the drain the claim links to have ended
            (the drain lingers a little for more work first)."""
            spans = read_spans(spans_file)
            ended = {s["span_id"] for s in spans}
            claims = [s for s in spans if s["name"] == "claim"]
            done = any(s["name"] == "result write" for s in spans) and all(
                set(c["links"]) <= ended for c in claims
            )
            return spans if done and claims else None

        spans = wait_for(written, timeout=30)
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "select traceparent from job_results where job_id = %s", (job_id,)
            ).fetchone()

    of_job = [s for s in spans if s["attributes"].get("supajobs.job_id") == job_id]
    by_name = {s["name"]: s for s in of_job}
    assert sorted(by_name) == ["attempt 1", "claim", "result write", "submit"]
    assert {s["trace_id"] for s in of_job} == {trace_id}  # one trace: the caller's
    submit, claim = by_name["submit"], by_name["claim"]
    attempt, write = by_name["attempt 1"], by_name["result write"]
    # Parents: the caller → submit → claim and attempt → result write.
    assert submit["parent_id"] == caller_span
    assert claim["parent_id"] == submit["span_id"] == attempt["parent_id"]
    assert write["parent_id"] == attempt["span_id"]
    # In order.
    assert submit["end"] <= claim["start"] <= claim["end"] <= attempt["start"]
    assert attempt["start"] <= write["start"] <= write["end"] <= attempt["end"]
    assert all(s["attributes"].get("supajobs.kind") == "echo" for s in of_job)
    assert write["attributes"]["supajobs.outcome"] == "completed"
    # The job's row holds the submit span's context, what the worker continued.
    assert row == (f"00-{trace_id}-{submit['span_id']}-01",)
    # The wake-up: delivered in the webhook, drained under it in process_job; the claim links
    # to the drain that made it.
    drains = {s["span_id"]: s for s in spans if s["name"] == "drain"}
    deliveries = {s["span_id"]: s for s in spans if s["name"] == "wake-up delivery"}
    (drain_id,) = claim["links"]
    drain = drains[drain_id]
    delivery = deliveries[drain["parent_id"]]
    assert delivery["trace_id"] == drain["trace_id"]
    assert delivery["attributes"]["supajobs.wake_id"] == drain["attributes"]["supajobs.wake_id"]
    # Three processes.
    assert len({submit["pid"], delivery["pid"], drain["pid"]}) == 3
    assert claim["pid"] == drain["pid"]
