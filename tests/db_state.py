"""What the database holds, read the same way by every test that checks nothing was stored."""

from __future__ import annotations

import psycopg


def jobs_and_messages(url: str) -> tuple[int, int]:
    """How many job rows and queued messages there are."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (select count(*) from job_results), (select count(*) from pgmq.q_work_queue)"
        ).fetchone()
    assert row is not None
    return row[0], row[1]
