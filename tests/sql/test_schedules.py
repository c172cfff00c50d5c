"""Schedules in SQL: cron expressions, the API's functions scoped to their owner, and the
sweep's runs (one job per due time; a missed run runs once)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.sql.flow_helpers import act_as

AT = datetime(2026, 12, 7, 10, 17, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("* * * * *", AT, datetime(2026, 12, 7, 10, 18, tzinfo=UTC)),
        ("*/15 * * * *", AT, datetime(2026, 12, 7, 10, 30, tzinfo=UTC)),
        ("0 3 * * *", AT, datetime(2026, 12, 8, 3, 0, tzinfo=UTC)),
        ("30 9 * * 1-5", AT, datetime(2026, 12, 8, 9, 30, tzinfo=UTC)),
        ("0 0 1 1 *", AT, datetime(2027, 1, 1, tzinfo=UTC)),
        ("0 12 * * 0", AT, datetime(2026, 12, 13, 12, 0, tzinfo=UTC)),
        ("0 12 * * 7", AT, datetime(2026, 12, 13, 12, 0, tzinfo=UTC)),
        ("5,10 10 7 12 *", AT, datetime(2027, 12, 7, 10, 5, tzinfo=UTC)),
        ("0 0 13 * 5", AT, datetime(2026, 12, 11, 0, 0, tzinfo=UTC)),  # the 13th or a Friday
        ("0 0 30 2 *", AT, None),
        ("* * *", AT, None),
        ("61 * * * *", AT, None),
        ("a * * * *", AT, None),
    ],
)
def test_cron_next(db: psycopg.Connection, cron: str, after: datetime, expected: object) -> None:
    row = db.execute("select private.cron_next(%s, %s)", (cron, after)).fetchone()
    assert row == (expected,)


def create(db: psycopg.Connection, name: str, cron: str = "* * * * *") -> uuid.UUID:
    row = db.execute(
        "select create_schedule(%s, %s, 'Nightly', 'noop', '{\"n\": 1}')", (name, cron)
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def test_create_list_pause_and_delete_are_the_owners_own(db: psycopg.Connection) -> None:
    public = create(db, "nightly")
    with pytest.raises(psycopg.Error) as taken:
        create(db, "nightly")
    assert taken.value.sqlstate == "23505"
    with pytest.raises(psycopg.Error) as bad:
        create(db, "broken", "every day")
    assert (bad.value.sqlstate, bad.value.diag.column_name) == ("22023", "/cron")
    alice = str(uuid.uuid4())
    with db.transaction():
        act_as(db, alice)
        mine = create(db, "nightly")  # the same name, another owner
        listed = db.execute("select schedule_id from list_schedules()").fetchall()
        assert listed == [(mine,)]
        assert db.execute("select pause_schedule(%s, true)", (public,)).fetchone() == (False,)
        assert db.execute("select delete_schedule(%s)", (public,)).fetchone() == (False,)
    assert db.execute("select pause_schedule(%s, true)", (public,)).fetchone() == (True,)
    assert db.execute("select paused from list_schedules()").fetchall() == [(True,)]
    assert db.execute("select delete_schedule(%s)", (public,)).fetchone() == (True,)
    assert db.execute("select count(*) from list_schedules()").fetchone() == (0,)


def test_a_missed_run_runs_once_as_the_owner_and_paused_ones_not_at_all(
    db: psycopg.Connection,
) -> None:
    alice = str(uuid.uuid4())
    with db.transaction():
        act_as(db, alice)
        hourly = create(db, "hourly", "0 * * * *")
    paused = create(db, "paused")
    db.execute("select pause_schedule(%s, true)", (paused,))
    # Down for three hours: three due times went by.
    db.execute(
        "update private.job_schedules set next_run_at = now() - interval '3 hours'"
        " where schedule_id = %s",
        (hourly,),
    )
    db.execute("select private.sweep()")
    db.execute("select private.sweep()")
    jobs = db.execute(
        "select task_name, kind, payload, owner_id, schedule_id from job_results"
    ).fetchall()
    assert jobs == [("Nightly", "noop", {"n": 1}, uuid.UUID(alice), hourly)]
    row = db.execute(
        "select next_run_at, last_job_id is not null from private.job_schedules"
        " where schedule_id = %s",
        (hourly,),
    ).fetchone()
    assert row is not None and row[1] is True
    assert datetime.now(UTC) < row[0] <= datetime.now(UTC) + timedelta(hours=1)
    reason = db.execute("select job_wait_reason(job_id) ->> 'schedule' from job_results").fetchone()
    assert reason == ("hourly",)
