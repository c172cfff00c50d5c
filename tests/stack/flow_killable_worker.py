"""A worker process for the SIGKILL test: holds a lease (renewed every 0.2 s), claims up to two
jobs, says so on stdout, and then works on them until it is killed."""

from __future__ import annotations

import sys
import time

import psycopg


def main(url: str, holder: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        claimed = 0
        while True:
            conn.execute("select private.hold_work_queue(%s, 1.0)", (holder,))
            if not claimed:
                rows = conn.execute(
                    "select delivery from private.claim_jobs(%s, 2, 30, 0, 1, false)", (holder,)
                ).fetchall()
                claimed = sum(1 for (delivery,) in rows if delivery == "started")
                if claimed:
                    print(f"claimed {claimed}", flush=True)
            time.sleep(0.2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
