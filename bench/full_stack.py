"""The whole local stack as real processes for a burst: submit, webhook and process_job under
functions-framework, and the pg_net relay paced like pg_net (``python -m devstack.relay``, its
default). Nothing sweeps: every job must arrive through the wake-up path."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import psycopg

from bench import ours
from devstack.config import generate_webhook_secret
from devstack.postgres.embedded import free_port
from devstack.services import ManagedProcess, function_process


@dataclass(frozen=True)
class FullStack:
    database_url: str
    ports: dict[str, int]

    def post_jobs(self, body: Any) -> Any:
        """``POST /jobs`` with ``body`` (one job or a list); the answer's JSON (202 only)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['submit']}/jobs",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"submit answered {error.code}: {error.read()[:300]!r}") from None


def _wait_listening(database_url: str, timeout_s: float = 30.0) -> None:
    """Until the relay's listener session has run its LISTEN (a commit before it is missed)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and query ilike 'listen %'"
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not LISTEN in time")
            time.sleep(0.05)  # polling the condition


@contextmanager
def full_stack(
    database_url: str,
    log: IO[str],
    process_job_env: Mapping[str, str] | None = None,
    max_workers: int | None = None,
) -> Iterator[FullStack]:
    """The stack on a reset database (``ours.reset``), stopped and unhooked afterwards, with
    the database's worker ceiling (``max_workers``; its default when None)."""
    secret = generate_webhook_secret()
    ports = {name: free_port() for name in ("submit", "webhook", "process_job")}
    ours.reset(database_url)
    ours.set_webhook(database_url, f"http://127.0.0.1:{ports['webhook']}", secret)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from private.settings where name = 'max_workers'")
        if max_workers is not None:
            conn.execute(
                "insert into private.settings values ('max_workers', %s)", (str(max_workers),)
            )
    common = {"DATABASE_URL": database_url, "WEBHOOK_SECRET": secret}
    envs = {
        "process_job": {**common, **(process_job_env or {})},
        "webhook": {
            "WEBHOOK_SECRET": secret,
            "PROCESS_JOB_URL": f"http://127.0.0.1:{ports['process_job']}",
        },
        "submit": common,
    }
    processes: list[ManagedProcess] = []
    try:
        for name, env in envs.items():
            processes.append(function_process(name, ports[name], env, log).start(60))
        relay = ManagedProcess(
            "relay",
            [sys.executable, "-m", "devstack.relay"],
            # By environment: a command line (and the URL's password in it) is visible to ps.
            env={"PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url},
            log_sink=log,
        )
        processes.append(relay.start())
        _wait_listening(database_url)
        yield FullStack(database_url, ports)
    finally:
        for process in reversed(processes):
            process.stop()
        ours.set_webhook(database_url, None)
