"""Deadlocks and lock waits in one test database: ``log_lock_waits`` turned on for it, Postgres's
own deadlock counter (``pg_stat_database.deadlocks``) and the server log's lines since a mark."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.waiting import wait_for

DEADLOCK = "deadlock detected"
LOCK_WAIT = "still waiting for"
# Logged instead of (or after) a wait's "still waiting" line once the lock came after
# deadlock_timeout; a wait the deadlock check ended at that moment shows only this.
LOCK_LATE = " after "  # "process N acquired ShareLock on transaction T after 1000.3 ms"


def log_lock_waits(url: str) -> None:
    """Log every lock wait longer than ``deadlock_timeout`` in this database's new sessions."""
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()
        assert name is not None
        conn.execute(f'alter database "{name[0]}" set log_lock_waits = on')


def deadlocks(url: str) -> int:
    """Deadlocks Postgres detected in this database, once every other session has left it (a
    backend's counters reach the shared statistics at the latest when it exits)."""
    with psycopg.connect(url, autocommit=True) as conn:
        wait_for(
            lambda: (
                conn.execute(
                    "select count(*) = 0 from pg_stat_activity"
                    " where datname = current_database() and pid <> pg_backend_pid()"
                    " and backend_type = 'client backend'"
                ).fetchone()
                == (True,)
            ),
            timeout=30,
            what="the database's other sessions to end",
        )
        row = conn.execute(
            "select deadlocks from pg_stat_database where datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0] or 0)


@dataclass
class ServerLog:
    """One database's lines of the server log from the moment this was made (None: the log is
    not readable here). Other tests' databases log to the same file at the same time; the
    servers the tests start name the database in each line (log_line_prefix's %d)."""

    path: Path | None
    database: str
    offset: int = 0

    @classmethod
    def mark(cls, path: Path | None, url: str) -> ServerLog:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "select current_database(), current_setting('log_line_prefix')"
            ).fetchone()
        assert row is not None
        # A server started before its prefix named the database would match no line at all.
        assert row[1].endswith("%d "), f"restart the test server: log_line_prefix is {row[1]!r}"
        if path is None or not path.exists():
            return cls(None, row[0])
        return cls(path, row[0], path.stat().st_size)

    def since(self) -> str:
        if self.path is None:
            return ""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode("utf-8", "replace")
        # the prefix ends "<pid>] <database> " in every line a session of that database wrote
        marker = f"] {self.database} "
        return "".join(line for line in text.splitlines(keepends=True) if marker in line)

    def count(self, needle: str) -> int:
        return self.since().count(needle)

    def lock_waits(self) -> int:
        """Lock waits past deadlock_timeout: lines saying one is still waiting or ended late."""
        return sum(
            1
            for line in self.since().splitlines()
            if LOCK_WAIT in line or (" acquired " in line and LOCK_LATE in line)
        )
