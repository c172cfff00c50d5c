"""``python -m client``: submit a job, and with ``--wait`` follow it live to its end.

    python -m client "Weekly report" --kind simulate --payload '{"seconds": 3}' --wait

Exit status: 0 when submitted (or, with --wait, completed), 1 when the job failed, 2 when the
API refused it, 3 when following it timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO

from client.follow import follow_job
from client.submit import SubmitError, submit_job


class StatusPrinter:
    """A line a change, or one line redrawn in place when writing to a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._started = time.monotonic()

    def __call__(self, row: dict[str, Any]) -> None:
        status = row.get("status")
        elapsed = time.monotonic() - self._started
        text = f"{row.get('job_id')} {status} (attempt {row.get('attempts', 0)}, {elapsed:.1f}s)"
        if status == "completed":
            text += f": {row.get('result')}"
        elif status == "failed":
            text += f": {row.get('error')}"
        if self._tty:
            self._stream.write(
                "\r\033[2K" + text + ("\n" if status in ("completed", "failed") else "")
            )
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client", description=__doc__)
    parser.add_argument("task_name")
    parser.add_argument("--kind", help="the task to run (simulate, noop, fail, echo, ...)")
    parser.add_argument("--payload", help="a JSON object", default=None)
    parser.add_argument("--wait", action="store_true", help="follow the job live to its end")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--functions-url", default=os.environ.get("FUNCTIONS_URL"))
    parser.add_argument("--supabase-url", default=os.environ.get("SUPABASE_URL"))
    parser.add_argument("--anon-key", default=os.environ.get("SUPABASE_ANON_KEY"))
    parser.add_argument(
        "--access-token",
        default=os.environ.get("SUPABASE_ACCESS_TOKEN"),
        help="a Supabase user's access token: the job is theirs (own jobs); default: public",
    )
    args = parser.parse_args(argv)
    if not args.functions_url:
        parser.error("give --functions-url or set FUNCTIONS_URL")
    try:
        payload = json.loads(args.payload) if args.payload else None
    except json.JSONDecodeError as exc:
        parser.error(f"--payload is not JSON: {exc}")
    try:
        if not args.wait:
            print(
                submit_job(
                    args.functions_url,
                    args.task_name,
                    args.kind,
                    payload,
                    access_token=args.access_token,
                )
            )
            return 0
        if not (args.supabase_url and args.anon_key):
            parser.error("--wait needs --supabase-url and --anon-key (or their variables)")
        outcome = asyncio.run(
            follow_job(
                args.functions_url,
                args.supabase_url,
                args.anon_key,
                args.task_name,
                args.kind,
                payload,
                on_change=StatusPrinter(sys.stdout),
                timeout_s=args.timeout,
                access_token=args.access_token,
            )
        )
    except SubmitError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except TimeoutError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
