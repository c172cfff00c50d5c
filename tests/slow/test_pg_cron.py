"""The real pg_cron on a PG 15 cluster the tests start with it preloaded (tests/cron_cluster.py):
the extension is created in the migrated database and a scheduled job runs there.

Sub-minute schedules (``'2 seconds'``) exist from pg_cron 1.5 on; hosted Supabase runs 1.6 and
Debian ships 1.4, so the sweep's schedule is tested in the form each version gets."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.cron_cluster import pg_cron_version
from tests.waiting import wait_for

SWEEP_SCHEDULE = Path(__file__).resolve().parents[2] / "supabase/schema/70_sweep_schedule.sql"

TICKS = """
create table cron_ticks (at timestamptz not null default clock_timestamp());
create extension pg_cron;
"""


def _ticks(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from cron_ticks").fetchone()
    assert row is not None
    return int(row[0])


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


def test_pg_cron_is_preloaded_and_serves_the_test_database(cron_db_url: str) -> None:
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        conn.execute(TICKS)
        preload = conn.execute("show shared_preload_libraries").fetchone()
        database = conn.execute("show cron.database_name").fetchone()
        current = conn.execute("select current_database()").fetchone()
    assert preload is not None and "pg_cron" in str(preload[0])
    assert database == current


def test_the_sweep_runs_as_a_cron_job_and_clears_a_dead_workers_lease(cron_db_url: str) -> None:
    """What the baseline does where pg_cron serves the database (a hosted project with Cron on):
    the sweep scheduled every 2 seconds, or, on a pg_cron before 1.5 (Debian's 1.4 here), a job
    each minute that sweeps every 2 seconds for the minute. Either way it runs by itself: a
    lease left by a killed worker is gone and its job visible again without anyone calling."""
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        conn.execute(SWEEP_SCHEDULE.read_bytes())
        job = conn.execute(
            "select schedule, command from cron.job where jobname = 'supajobs-sweep'"
        ).fetchone()
        version = pg_cron_version(cron_db_url)
        expected = (
            ("2 seconds", "select private.sweep()")
            if version >= (1, 5)
            else ("* * * * *", "call private.sweep_for(58)")
        )
        assert job == expected
        # A worker that claimed a job and died: its lease lapsed, its message is invisible.
        conn.execute("select submit_job('orphan', '{}', kind => 'noop')")
        conn.execute("select private.hold_work_queue('killed', 0)")
        conn.execute("select * from private.claim_jobs('killed', 10, 300)")

    def swept() -> bool:
        with psycopg.connect(cron_db_url) as conn:
            row = conn.execute(
                "select (select count(*) from private.queue_leases where holder = 'killed'),"
                " (select count(*) from pgmq.q_work_queue where vt <= clock_timestamp())"
            ).fetchone()
        return row == (0, 1)

    wait_for(swept, timeout=75, interval=0.5, what="the cron-run sweep to release the job")
    assert all(
        status in ("running", "succeeded") for status, _ in _runs(cron_db_url, "supajobs-sweep")
    )


def test_a_minute_schedule_runs_in_the_test_database(cron_db_url: str) -> None:
    """What pg_cron of any version runs: the next whole minute (so up to ~60 s)."""
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        conn.execute(TICKS)
        conn.execute(
            "select cron.schedule('minute', '* * * * *', 'insert into cron_ticks default values')"
        )
    wait_for(lambda: _ticks(cron_db_url) >= 1, timeout=75, what="a run of a minute job")
    assert _runs(cron_db_url, "minute")[0][0] == "succeeded"
