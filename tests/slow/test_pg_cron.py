"""The real pg_cron on a PG 15 cluster the tests start with it preloaded (tests/cron_cluster.py):
the extension is created in the migrated database, and the jobs scheduled there run by
themselves: a plain minute job, the sweep (supabase/schema/70_sweep_schedule.sql), which
releases a dead worker's lease and submits the schedules that are due.

Sub-minute schedules (``'2 seconds'``) exist from pg_cron 1.5 on; hosted Supabase runs 1.6 and
Debian ships 1.4, so the sweep's schedule is tested in the form each version gets. On 1.4 every
job waits for a whole minute, so everything here is scheduled once, in one database, and the
tests wait on the same minute rather than one each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.cron_cluster import pg_cron_version
from tests.waiting import wait_for

SWEEP_SCHEDULE = Path(__file__).resolve().parents[2] / "supabase/schema/70_sweep_schedule.sql"

TICKS = """
create table cron_ticks (at timestamptz not null default clock_timestamp());
create extension pg_cron;
select cron.schedule('minute', '* * * * *', 'insert into cron_ticks default values');
"""


@dataclass(frozen=True)
class Scheduled:
    """The database pg_cron serves, with its jobs scheduled and their subjects in place."""

    url: str
    orphan_job_id: str  # claimed by a worker that died before finishing it
    schedule_id: str  # a user's every-minute schedule


@pytest.fixture(scope="module")
def scheduled(cron_module_db_url: str) -> Scheduled:
    url = cron_module_db_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TICKS)
        conn.execute(SWEEP_SCHEDULE.read_bytes())
        orphan = conn.execute("select submit_job('orphan', '{}', kind => 'noop')").fetchone()
        # A worker that claimed the job and died: its lease stands, the message invisible.
        conn.execute("select private.hold_work_queue('killed', 0)")
        claimed = conn.execute("select * from private.claim_jobs('killed', 10, 300)")
        assert len(claimed.fetchall()) == 1
        schedule = conn.execute(
            "select create_schedule('every-minute', '* * * * *', 'Tick', 'noop')"
        ).fetchone()
    assert orphan is not None and schedule is not None
    return Scheduled(url, str(orphan[0]), str(schedule[0]))


def _runs(url: str, jobname: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return [
            (str(status), message)
            for status, message in conn.execute(
                "select d.status, d.return_message from cron.job_run_details d"
                " join cron.job j using (jobid) where j.jobname = %s order by d.runid",
                (jobname,),
            ).fetchall()
        ]


def test_pg_cron_is_preloaded_and_serves_the_test_database(scheduled: Scheduled) -> None:
    with psycopg.connect(scheduled.url, autocommit=True) as conn:
        preload = conn.execute("show shared_preload_libraries").fetchone()
        database = conn.execute("show cron.database_name").fetchone()
        current = conn.execute("select current_database()").fetchone()
    assert preload is not None and "pg_cron" in str(preload[0])
    assert database == current


def test_the_sweep_runs_as_a_cron_job_and_clears_a_dead_workers_lease(
    scheduled: Scheduled,
) -> None:
    """What the baseline does where pg_cron serves the database (a hosted project with Cron on):
    the sweep scheduled every 2 seconds, or, on a pg_cron before 1.5 (Debian's 1.4 here), a job
    each minute that sweeps every 2 seconds for the minute. Either way it runs by itself: a
    lease left by a killed worker is gone and its job visible again without anyone calling."""
    url = scheduled.url
    with psycopg.connect(url) as conn:
        job = conn.execute(
            "select schedule, command from cron.job where jobname = 'supajobs-sweep'"
        ).fetchone()
    expected = (
        ("2 seconds", "select private.sweep()")
        if pg_cron_version(url) >= (1, 5)
        else ("* * * * *", "call private.sweep_for(58)")
    )
    assert job == expected

    def swept() -> bool:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "select (select count(*) from private.queue_leases where holder = 'killed'),"
                " (select count(*) from pgmq.q_work_queue"
                "  where vt <= clock_timestamp() and message ->> 'job_id' = %s)",
                (scheduled.orphan_job_id,),
            ).fetchone()
        return row == (0, 1)

    wait_for(swept, timeout=75, interval=0.5, what="the cron-run sweep to release the job")
    assert all(status in ("running", "succeeded") for status, _ in _runs(url, "supajobs-sweep"))


def test_a_minute_schedule_runs_in_the_test_database(scheduled: Scheduled) -> None:
    """What pg_cron of any version runs: the next whole minute (so up to ~60 s)."""

    def ticks() -> int:
        with psycopg.connect(scheduled.url) as conn:
            row = conn.execute("select count(*) from cron_ticks").fetchone()
        assert row is not None
        return int(row[0])

    wait_for(lambda: ticks() >= 1, timeout=75, what="a run of a minute job")
    assert _runs(scheduled.url, "minute")[0][0] == "succeeded"


def test_a_schedule_submits_its_job_through_pg_cron(scheduled: Scheduled) -> None:
    """A user's schedule needs nothing but the sweep: the first sweep past its due time
    submits its job (up to two minutes on 1.4, which schedules whole minutes)."""
    with psycopg.connect(scheduled.url, autocommit=True) as conn:
        jobs = wait_for(
            lambda: conn.execute(
                "select job_id, task_name from job_results where schedule_id = %s",
                (scheduled.schedule_id,),
            ).fetchall(),
            timeout=150,
            interval=1,
            what="the schedule's first job",
        )
        assert [name for _, name in jobs] == ["Tick"]
        due = conn.execute(
            "select next_run_at > now(), last_job_id = %s from private.job_schedules",
            (jobs[0][0],),
        ).fetchone()
    assert due == (True, True)
