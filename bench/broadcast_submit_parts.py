"""Where the submit cost of issue 21's sends goes: submit_job in a server-side loop (each one
committed, no client round trips) with private.broadcast_job_change as it is, replaced by a
no-op, building its payload only, inserting a bare one-row message only, and sending through
realtime.send itself. Interleaved rounds (the order reversed every other round).

    python -m bench.broadcast_submit_parts [--jobs 500] [--rounds 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

from bench.broadcast import NO_SEND, SCHEMA_FUNCTION, migrate_webhook
from bench.pg import DEFAULT_DATA_DIR, databases
from devstack.services import ROOT

HEAD = """create or replace function private.broadcast_job_change(
  p_job public.job_results, p_event public.job_events
) returns void language plpgsql set search_path = pg_catalog as $$ """


def variants() -> dict[str, str]:
    current = SCHEMA_FUNCTION.read_text()
    body = current[current.index("declare") : current.index("revoke all")]
    build = body[: body.index("  -- The submit itself")] + "end\n$$"
    return {
        "no-op": NO_SEND,
        "as it is": current,
        "payload only": HEAD + build,
        "bare insert": HEAD + "begin insert into realtime.messages (id, topic, extension,"
        " payload, event, private) values (gen_random_uuid(), 'jobs:public', 'broadcast', '{}',"
        " 'job', true); end $$",
        "realtime.send": HEAD
        + build.replace(
            "end\n$$",
            "perform realtime.send(v_message, 'job', 'jobs:public', true);\nend\n$$",
        ),
    }


def rate(url: str, jobs: int) -> float:
    loop = (
        f"do $$ begin for i in 1..{jobs} loop"
        " perform public.submit_job('bench-parts', '{}'::jsonb); commit; end loop; end $$"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute(loop.encode())
        return jobs / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "broadcast_submit_parts.txt"
    )
    args = parser.parse_args(argv)
    bodies = variants()
    rates: dict[str, list[float]] = {name: [] for name in bodies}
    with databases(os.environ.get("DATABASE_URL"), DEFAULT_DATA_DIR) as dbs:
        migrate_webhook(dbs.ours)
        for n in range(args.rounds):
            order = list(bodies.items())
            for name, body in order if n % 2 == 0 else reversed(order):
                with psycopg.connect(dbs.ours, autocommit=True) as conn:
                    conn.execute(body.encode())
                rates[name].append(rate(dbs.ours, args.jobs))
    base = rates["no-op"]
    lines = [f"submit_job in a server-side loop, {args.jobs} jobs x {args.rounds} rounds"]
    for name, values in rates.items():
        ratio = statistics.median(a / b for a, b in zip(values, base, strict=True))
        lines.append(
            f"{name:14} median {statistics.median(values):7.0f} jobs/s,"
            f" median ratio to no-op {ratio:.2f}x"
        )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
