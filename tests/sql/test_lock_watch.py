"""The deadlock watch the exactly-once test relies on sees a deadlock when there is one."""

from __future__ import annotations

import threading

import psycopg
import pytest

from tests.conftest import TEST_PG_DIR
from tests.lock_watch import DEADLOCK, ServerLog, deadlocks, log_lock_waits

# The server log is shared: the test that plants a deadlock must not run beside those that
# count deadlocks in it (pytest-xdist runs one group on one worker, one test at a time).
pytestmark = pytest.mark.xdist_group("server-log")


def test_a_real_deadlock_is_counted_and_logged(embedded_db_url: str) -> None:
    url = embedded_db_url
    log_lock_waits(url)
    log = ServerLog.mark(TEST_PG_DIR / "postgres.log")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create table pair (id int primary key, n int); insert into pair values (1, 0), (2, 0)"
        )
    both_locked = threading.Barrier(2, timeout=10)
    failures: list[str] = []

    def cross(first: int, second: int) -> None:
        with psycopg.connect(url) as conn:
            try:
                conn.execute("update pair set n = n + 1 where id = %s", (first,))
                both_locked.wait()
                conn.execute("update pair set n = n + 1 where id = %s", (second,))
                conn.commit()
            except psycopg.errors.DeadlockDetected as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=cross, args=p) for p in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(failures) == 1
    assert deadlocks(url) == 1
    assert log.count(DEADLOCK) == 1
