"""A schedule runs by itself where the real pg_cron serves the database (Debian's 1.4 on PG 15,
tests/cron_cluster.py): the sweep is the Cron job (supabase/schema/70_sweep_schedule.sql), and
each sweep submits the schedules that are due. Up to two minutes: 1.4 schedules whole minutes."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.waiting import wait_for

SWEEP_SCHEDULE = Path(__file__).resolve().parents[2] / "supabase/schema/70_sweep_schedule.sql"


def test_a_schedule_submits_its_job_through_pg_cron(cron_db_url: str) -> None:
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        conn.execute(SWEEP_SCHEDULE.read_bytes())
        assert conn.execute("select count(*) from cron.job").fetchone() == (1,)
        row = conn.execute(
            "select create_schedule('every-minute', '* * * * *', 'Tick', 'noop')"
        ).fetchone()
        assert row is not None
        jobs = wait_for(
            lambda: conn.execute(
                "select job_id, task_name from job_results where schedule_id = %s", (row[0],)
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
