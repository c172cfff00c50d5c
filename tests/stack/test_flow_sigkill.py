"""Concurrency limits hold when workers are SIGKILLed mid-job: the dead worker's jobs keep
their slots until the sweep finds its lease lapsed and another worker runs them again, and the
most jobs seen running under a key (job_results, every 10 ms) never exceeds the limit."""

from __future__ import annotations

import signal
import subprocess
import sys

import psycopg
from psycopg.types.json import Jsonb

from tests.sql.flow_helpers import Claimer, Sampler, set_flow, status_counts
from tests.waiting import wait_for


def test_limits_hold_when_workers_are_killed(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as db:
        set_flow(db, "noop", {"concurrency_limit": 2, "concurrency_key": "payload.tenant"})
        db.execute(
            "select submit_jobs(%s)",
            (
                Jsonb(
                    [
                        {
                            "task_name": f"t{i}",
                            "kind": "noop",
                            "payload": {"tenant": f"tenant-{i % 2}"},
                        }
                        for i in range(40)
                    ]
                ),
            ),
        )
        doomed = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.stack.flow_killable_worker", db_url, f"doomed-{n}"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(2)
        ]
        sampler = Sampler(db_url)
        workers: list[Claimer] = []
        try:
            for process in doomed:
                assert process.stdout is not None
                assert process.stdout.readline().startswith("claimed")
            sampler.start()
            workers = [Claimer(db_url, (0.01, 0.03)) for _ in range(6)]
            for worker in workers:
                worker.start()
            running = (
                "select count(*) from job_results where claimed_by like 'doomed-%%'"
                " and status = 'running'"
            )
            held = db.execute(running).fetchone()
            assert held is not None and held[0] >= 2
            for process in doomed:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)

            # The dead workers' jobs come back when their leases lapse (1 s) and a sweep runs.
            def swept() -> bool:
                db.execute("select private.sweep()")
                left = db.execute(
                    "select count(*) from private.queue_leases where holder like 'doomed-%%'"
                ).fetchone()
                return left == (0,)

            wait_for(swept, timeout=30, what="the sweep dropping the dead workers' leases")
            wait_for(
                lambda: status_counts(db).get("completed") == 40,
                timeout=120,
                what="all 40 jobs completed",
            )
        finally:
            for process in doomed:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
            for worker in workers:
                worker.stop.set()
            for worker in workers:
                worker.join(timeout=10)
            sampler.stop.set()
            sampler.join(timeout=10)
        assert [w.error for w in workers if w.error] == []
        restarted = db.execute("select count(*) from job_results where attempts > 1").fetchone()
    assert restarted is not None and restarted[0] >= 2  # the killed jobs ran again
    assert sampler.most == {"payload.tenant=tenant-0": 2, "payload.tenant=tenant-1": 2}
