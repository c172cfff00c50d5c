"""Stress of coalesced wake-ups with no sweeper: 20,000 jobs in bursts from 20 clients, workers
that linger briefly and so leave (and come back) many times while clients keep enqueuing. Every
job must complete on wake-ups alone; the webhook calls per job are reported."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.local_stack import running_stack
from tests.stack.test_faults import all_finished, install_status_log
from tests.waiting import wait_for

JOBS = int(os.environ.get("WAKEUP_STRESS_JOBS", "20000"))
CLIENTS = 20
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def webhook_calls(url: str) -> int:
    """Calls ever queued for pg_net (its queue's id sequence; delivered rows are deleted)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select coalesce(pg_sequence_last_value("
            "pg_get_serial_sequence('net.http_request_queue', 'id')), 0)"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.load
def test_20000_jobs_in_bursts_complete_on_wake_ups_alone(embedded_db_url: str) -> None:
    install_status_log(embedded_db_url)
    # A short linger makes workers leave between bursts: the race this exercises.
    env = {"BATCH_SIZE": "50", "WORKER_LINGER_SECONDS": "0.02"}
    per_client = JOBS // CLIENTS
    with running_stack(embedded_db_url, extra_env=env) as stack:
        assert stack  # no sweeper: only wake-ups move jobs

        rounds = 200  # bursts of 100: short enough to drain within most pauses
        barrier = threading.Barrier(CLIENTS)

        def client(index: int) -> None:
            rng = random.Random(index)
            params = {"payload": Jsonb({})}
            submit = "select submit_job(%(t)s, %(payload)s, kind => 'noop')"
            quota = [per_client // rounds + (r < per_client % rounds) for r in range(rounds)]
            with psycopg.connect(embedded_db_url, autocommit=True) as conn:
                for r, burst in enumerate(quota):
                    names = [{**params, "t": f"c{index}-r{r}-{n}"} for n in range(burst)]
                    if rng.random() < 0.3:
                        with conn.transaction():  # a whole burst in one transaction
                            for name in names:
                                conn.execute(submit, name)
                    else:
                        for name in names:
                            conn.execute(submit, name)
                    # Every client ends its burst, then all pause together (load shaping,
                    # not synchronisation): the queue empties and workers leave, some of them
                    # just as the next burst begins.
                    if barrier.wait() == 0:
                        time.sleep(rng.uniform(0, 0.15))
                    barrier.wait()

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        submitted_s = time.monotonic() - started
        state = wait_for(
            lambda: all_finished(embedded_db_url, JOBS),
            timeout=600,
            interval=0.5,
            what="every job to finish without a sweeper",
        )
        total_s = time.monotonic() - started
        calls = webhook_calls(embedded_db_url)
    summary = (
        f"wake-up stress: {JOBS} jobs from {CLIENTS} clients in bursts, no sweeper; submitted in"
        f" {submitted_s:.1f}s, all done in {total_s:.1f}s; completed {state['completed']},"
        f" failed {state['failed']}; webhook calls {calls} ({calls / JOBS:.4f} per job)"
    )
    print(summary)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "wakeup-stress.txt").write_text(summary + "\n")
    assert state["completed"] == JOBS and state["failed"] == 0
    assert state["archived"] == state["archived_ids"] == JOBS
    assert state["max_terminal"] == 1
    assert calls < JOBS / 10  # coalesced: far fewer calls than jobs
