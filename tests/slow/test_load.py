"""Load: 5,000 jobs from 50 concurrent HTTP clients through the whole real path, with a no-op
task. Bounded in count and time; .ci/run runs it."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.sweeper import Sweeper
from tests.local_stack import running_stack
from tests.stack.test_faults import all_finished, install_status_log
from tests.waiting import wait_for

JOBS = int(os.environ.get("LOAD_JOBS", "5000"))
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "50"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.load
def test_5000_jobs_from_50_clients_none_lost_none_duplicated(embedded_db_url: str) -> None:
    install_status_log(embedded_db_url)
    env = {"BATCH_SIZE": "50"}
    with running_stack(embedded_db_url, extra_env=env) as stack:
        sweeper = Sweeper(stack.database_url, interval_s=2.0).start()
        submit_url = stack.url("submit", "/jobs")

        def client(index: int) -> list[str]:
            accepted = []
            for n in range(index, JOBS, CLIENTS):
                body = json.dumps({"task_name": f"load-{n}", "kind": "noop"}).encode()
                request = urllib.request.Request(
                    submit_url,
                    data=body,
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    assert response.status == 202
                    accepted.append(json.loads(response.read())["job_id"])
            return accepted

        started = time.monotonic()
        try:
            with ThreadPoolExecutor(CLIENTS) as pool:
                ids = [job for batch in pool.map(client, range(CLIENTS)) for job in batch]
            submitted_s = time.monotonic() - started
            state = wait_for(
                lambda: all_finished(embedded_db_url, JOBS),
                timeout=600,
                interval=0.5,
                what="every job to finish",
            )
            total_s = time.monotonic() - started
        finally:
            sweeper.stop()
    lost = JOBS - state["completed"] - state["failed"]
    duplicated = state["archived"] - state["archived_ids"]
    summary = (
        f"load: submitted {len(ids)} (distinct {len(set(ids))}) from {CLIENTS} clients in"
        f" {submitted_s:.1f}s; completed {state['completed']}, failed {state['failed']},"
        f" lost {lost}, duplicated results {duplicated}, max terminal writes per job"
        f" {state['max_terminal']}; all done in {total_s:.1f}s"
    )
    print(summary)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load-test.txt").write_text(summary + "\n")
    assert len(ids) == len(set(ids)) == JOBS
    assert state["completed"] == JOBS and state["failed"] == 0
    assert state["archived"] == state["archived_ids"] == JOBS
    assert state["max_terminal"] == 1
