"""``supajobs`` (or ``python -m client`` in a checkout): submit a job, and with ``--wait``
follow it live to its end; or cancel or retry one.

    supajobs "Weekly report" --kind simulate --payload '{"seconds": 3}' --wait
    supajobs "Sync" --kind echo --dedup-key sync-42 --priority 5 --concurrency-key tenant-7 \
        --concurrency-limit 2
    supajobs cancel JOB_ID
    supajobs retry JOB_ID
    supajobs kinds                        # each kind's time limit and flow control
    supajobs schedules create nightly "0 3 * * *" "Nightly report" --kind simulate
    supajobs schedules list | pause ID | resume ID | delete ID
    supajobs stats [--window 300] [--watch 2]      # the queue's metrics (an operator's key)
    supajobs failures [--kind K] [--since T]       # failed jobs by kind and error
    supajobs retry-failed [--kind K] [--error E] [--since T] [--until T]

--key (or SUPABASE_PUBLISHABLE_KEY, or the legacy SUPABASE_ANON_KEY) is the project's
publishable key, which --wait needs to follow the job through Realtime.

With --access-token (or SUPABASE_ACCESS_TOKEN) a user's own jobs: submitted as theirs,
followed, cancelled and retried as them; without it, the public demo jobs. stats needs an
operator: --access-token SUPABASE_SECRET_KEY (or the service-role key, or an admin user's
token); failures and retry-failed then see every owner's jobs.

Exit status (each with a one-line message on stderr when not 0):
  0  submitted (with --wait: completed); cancel or retry accepted
  1  the job failed (--wait)
  2  the API refused the request (bad input, no such job, a job in the wrong state), or the
     command line is wrong
  3  timed out: the job did not finish within --timeout seconds (--wait); it goes on running
  4  the job was cancelled (--wait)
  5  unreachable: the jobs API or Realtime could not be reached, or answered 5xx
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, TextIO

from client import ops
from client.follow import BROADCAST, LIVE_MODES, RealtimeUnavailable, follow_job
from client.settings import ClientSettings
from client.submit import SubmitError, list_kinds, schedules_call, steer_job, submit_job
from devstack.entrypoints import prog

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_CANCELLED, EXIT_UNREACHABLE = range(6)
EXIT_FOR_STATUS = {"completed": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}


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
        elif status in ("failed", "cancelled"):
            text += f": {row.get('error')}"
        elif status == "running" and row.get("progress") is not None:
            text += " " + progress_text(row)
        if self._tty:
            self._stream.write("\r\033[2K" + text + ("\n" if status in EXIT_FOR_STATUS else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


def progress_text(row: dict[str, Any]) -> str:
    """``3/8 (38%) message``, or ``3 message`` when the total is unknown."""
    done, total = float(row["progress"]), row.get("progress_total")
    text = f"{done:g}"
    if total:
        text += f"/{float(total):g} ({min(100.0, 100 * done / float(total)):.0f}%)"
    if row.get("progress_message"):
        text += f" {row['progress_message']}"
    return text


def add_access_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--access-token",
        default=ClientSettings.from_env().access_token,
        help="a Supabase user's access token: the job is theirs (own jobs); default: public",
    )


def steer(argv: list[str]) -> int:
    """``cancel JOB_ID`` / ``retry JOB_ID``."""
    parser = argparse.ArgumentParser(prog=f"{prog('python -m client')} {argv[0]}")
    parser.add_argument("job_id")
    parser.add_argument("--functions-url", default=ClientSettings.from_env().functions_url)
    add_access_token(parser)
    args = parser.parse_args(argv[1:])
    if not args.functions_url:
        parser.error("give --functions-url or set FUNCTIONS_URL")
    try:
        code, job = steer_job(
            args.functions_url, args.job_id, argv[0], access_token=args.access_token
        )
    except SubmitError as exc:
        return refused(exc)
    if argv[0] == "retry":
        print(f"{job.get('job_id')} retried: pending again (run {job.get('run')})")
    elif code == 202:
        print(f"{job.get('job_id')} cancel requested: its worker stops it within a second or two")
    else:
        print(f"{job.get('job_id')} cancelled")
    return EXIT_OK


def operate(argv: list[str]) -> int:
    """``stats``, ``failures``, ``retry-failed``."""
    command = argv[0]
    parser = argparse.ArgumentParser(prog=f"{prog('python -m client')} {command}")
    parser.add_argument("--functions-url", default=ClientSettings.from_env().functions_url)
    add_access_token(parser)
    if command == "stats":
        parser.add_argument("--window", type=int, default=300, help="seconds to look back")
        parser.add_argument("--watch", type=float, help="print again every this many seconds")
        parser.add_argument("--json", action="store_true", help="the answer as it came")
    else:
        parser.add_argument("--kind")
        parser.add_argument("--error", help="the first line of the error, exactly")
        parser.add_argument("--since", help="ended at or after (RFC 3339)")
        parser.add_argument("--until", help="ended before (RFC 3339)")
    args = parser.parse_args(argv[1:])
    if not args.functions_url:
        parser.error("give --functions-url or set FUNCTIONS_URL")
    try:
        if command == "stats":
            while True:
                answer = ops.call(
                    "GET",
                    args.functions_url,
                    "/stats",
                    args.access_token,
                    params={"window": str(args.window)},
                )
                print(json.dumps(answer, indent=2) if args.json else ops.stats_table(answer))
                if not args.watch:
                    return EXIT_OK
                time.sleep(args.watch)  # a pause between two readings a person looks at
        wanted = {
            name: getattr(args, name)
            for name in ("kind", "error", "since", "until")
            if getattr(args, name) is not None
        }
        if command == "failures":
            answer = ops.call(
                "GET", args.functions_url, "/failures", args.access_token, params=wanted
            )
            print(ops.failures_table(answer))
        else:
            answer = ops.call(
                "POST", args.functions_url, "/jobs/retry", args.access_token, body=wanted
            )
            print(f"retried {answer['retried']} jobs")
    except SubmitError as exc:
        return refused(exc)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def refused(exc: SubmitError) -> int:
    if exc.status == 0 or exc.status >= 500:
        print(f"unreachable: {exc.message}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(f"refused: {exc}", file=sys.stderr)
    return EXIT_REFUSED


def kinds(argv: list[str]) -> int:
    """``kinds``: each task kind, its time limit and its flow control."""
    parser = argparse.ArgumentParser(prog=f"{prog('python -m client')} kinds")
    parser.add_argument("--functions-url", default=ClientSettings.from_env().functions_url)
    args = parser.parse_args(argv[1:])
    if not args.functions_url:
        parser.error("give --functions-url or set FUNCTIONS_URL")
    try:
        listed = list_kinds(args.functions_url)
    except SubmitError as exc:
        return refused(exc)
    for kind in listed.get("kinds", []):
        flow = kind.get("flow") or {}
        settings = ", ".join(f"{name}={value}" for name, value in sorted(flow.items()))
        print(f"{kind['kind']}\t{kind['time_limit_s']:g} s\t{settings or 'no flow control'}")
    return EXIT_OK


def schedules(argv: list[str]) -> int:
    """``schedules list | create NAME CRON TASK_NAME [--kind K] [--payload JSON] |
    pause ID | resume ID | delete ID``."""
    parser = argparse.ArgumentParser(prog=f"{prog('python -m client')} schedules")
    parser.add_argument("action", choices=("list", "create", "pause", "resume", "delete"))
    parser.add_argument("args", nargs="*", help="create: NAME CRON TASK_NAME; others: ID")
    parser.add_argument("--kind")
    parser.add_argument("--payload", default=None, help="a JSON object")
    parser.add_argument("--functions-url", default=ClientSettings.from_env().functions_url)
    add_access_token(parser)
    args = parser.parse_args(argv[1:])
    if not args.functions_url:
        parser.error("give --functions-url or set FUNCTIONS_URL")
    wanted = {"list": 0, "create": 3}.get(args.action, 1)
    if len(args.args) != wanted:
        parser.error(f"{args.action} takes {wanted} argument(s)")
    url, token = args.functions_url, args.access_token
    try:
        if args.action == "list":
            listed = schedules_call(url, "GET", "/schedules", access_token=token)
            for item in listed.get("schedules", []):
                state = "paused" if item.get("paused") else f"next {item.get('next_run_at')}"
                print(f"{item['schedule_id']}\t{item['name']}\t{item['cron']}\t{state}")
            return EXIT_OK
        if args.action == "create":
            name, cron, task_name = args.args
            body: dict[str, Any] = {"name": name, "cron": cron, "task_name": task_name}
            if args.kind:
                body["kind"] = args.kind
            if args.payload:
                body["payload"] = json.loads(args.payload)
            made = schedules_call(url, "POST", "/schedules", body, access_token=token)
            print(made["schedule_id"])
            return EXIT_OK
        (schedule_id,) = args.args
        if args.action == "delete":
            schedules_call(url, "DELETE", f"/schedules/{schedule_id}", access_token=token)
        else:
            path = f"/schedules/{schedule_id}/{args.action}"
            schedules_call(url, "POST", path, access_token=token)
        print(f"{schedule_id} {args.action}d")
    except json.JSONDecodeError as exc:
        parser.error(f"--payload is not JSON: {exc}")
    except SubmitError as exc:
        return refused(exc)
    return EXIT_OK


def flow_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The submission's flow-control fields from the command line (None: not given)."""
    return {
        "priority": args.priority,
        "concurrency_key": args.concurrency_key,
        "concurrency_limit": args.concurrency_limit,
        "dedup_key": args.dedup_key,
        "debounce_seconds": args.debounce,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("cancel", "retry"):
        return steer(argv)
    if argv and argv[0] == "kinds":
        return kinds(argv)
    if argv and argv[0] == "schedules":
        return schedules(argv)
    if argv and argv[0] in ("stats", "failures", "retry-failed"):
        return operate(argv)
    parser = argparse.ArgumentParser(
        prog=prog("python -m client"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task_name")
    parser.add_argument("--kind", help="the task to run (simulate, noop, fail, echo, ...)")
    parser.add_argument("--payload", help="a JSON object", default=None)
    parser.add_argument("--wait", action="store_true", help="follow the job live to its end")
    parser.add_argument(
        "--live",
        choices=LIVE_MODES,
        default=BROADCAST,
        help="how --wait follows the job: the job's private Broadcast topic, resumed with"
        " replay after a dropped connection (default), or postgres_changes on job_results",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--delay", type=float, help="start no sooner than this many seconds")
    parser.add_argument("--priority", type=int, help="higher first, in the kind's bounds")
    parser.add_argument("--concurrency-key", help="at most --concurrency-limit running per key")
    parser.add_argument("--concurrency-limit", type=int, help="the key's limit")
    parser.add_argument(
        "--dedup-key", help="while a job of yours with this key is unfinished, answer with it"
    )
    parser.add_argument(
        "--debounce", type=float, help="with --dedup-key: start after this quiet time (latest wins)"
    )
    env = ClientSettings.from_env()
    parser.add_argument("--functions-url", default=env.functions_url)
    parser.add_argument("--supabase-url", default=env.supabase_url)
    parser.add_argument(
        "--key",
        "--anon-key",
        dest="key",
        default=env.key,
        help="the publishable key (sb_publishable_...) or the legacy anon key",
    )
    add_access_token(parser)
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
                    delay_s=args.delay,
                    access_token=args.access_token,
                    flow=flow_fields(args),
                )
            )
            return EXIT_OK
        if not (args.supabase_url and args.key):
            parser.error(
                "--wait needs --supabase-url and --key (or SUPABASE_URL and"
                " SUPABASE_PUBLISHABLE_KEY)"
            )
        outcome = asyncio.run(
            follow_job(
                args.functions_url,
                args.supabase_url,
                args.key,
                args.task_name,
                args.kind,
                payload,
                on_change=StatusPrinter(sys.stdout),
                timeout_s=args.timeout,
                delay_s=args.delay,
                access_token=args.access_token,
                live=args.live,
                flow=flow_fields(args),
            )
        )
    except SubmitError as exc:
        return refused(exc)
    except RealtimeUnavailable as exc:
        print(f"unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except TimeoutError as exc:
        print(f"timed out: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    return EXIT_FOR_STATUS.get(outcome.status, EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
