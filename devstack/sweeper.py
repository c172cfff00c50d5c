"""The local stand-in for Supabase Cron's sweep: ``select private.sweep()`` every few seconds,
the same SQL a hosted project's pg_cron job runs (supabase/schema/70_sweep_schedule.sql). It
notices dead workers by their lapsed leases, makes their jobs visible again, and wakes workers
for visible work through the same signed wake-up as an enqueue.

``drain_once`` is something else: a direct invocation of process_job (no wake-up), which drains
whatever is visible; tests use it as a deterministic tick.
"""

from __future__ import annotations

import argparse
import logging
import threading
import urllib.error
import urllib.request

import psycopg

log = logging.getLogger("devstack.sweeper")

SWEEP = "select private.sweep()"
INTERVAL_S = 2.0


def sweep(database_url: str) -> dict[str, int]:
    """Run the sweep once; what it did (dead leases, released messages, wake-ups sent)."""
    # A fresh connection each time, with a short timeout: a restarting database costs one tick.
    with psycopg.connect(database_url, autocommit=True, connect_timeout=2) as conn:
        row = conn.execute(SWEEP).fetchone()
    assert row is not None
    return dict(row[0])


def drain_once(process_job_url: str, secret: str, timeout_s: float = 900) -> int:
    """Invoke process_job directly and wait for its answer; the HTTP status, 0 if unreachable."""
    request = urllib.request.Request(  # noqa: S310  # our own local URL
        process_job_url,
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {secret}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        log.warning("process_job answered %s", error.code)
        return int(error.code)
    except OSError as exc:
        log.warning("could not reach process_job: %s", exc)
        return 0


class Sweeper:
    """Runs the sweep every ``interval_s`` seconds until stopped; ``runs`` counts the sweeps
    that got through."""

    def __init__(self, database_url: str, interval_s: float = INTERVAL_S) -> None:
        self._url = database_url
        self._interval_s = interval_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run(self) -> None:
        """Sweep until stopped (blocking); a database that is down is tried again next tick."""
        while not self._stop.wait(self._interval_s):
            try:
                done = sweep(self._url)
            except psycopg.Error as exc:
                log.warning("sweep failed: %s", exc)
                continue
            self.runs += 1
            if any(done.values()):
                log.info("sweep: %s", done)


def main() -> None:
    parser = argparse.ArgumentParser(description="run the job system's sweep on a schedule")
    from devstack.settings import SweeperSettings

    parser.add_argument("--database-url", default=SweeperSettings.from_env().database_url)
    parser.add_argument("--interval", type=float, default=INTERVAL_S)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    Sweeper(args.database_url, args.interval).run()


if __name__ == "__main__":
    main()
