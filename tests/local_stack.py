"""The functions and the relay as real processes on loopback, for end-to-end tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg

from devstack.config import generate_webhook_secret
from devstack.postgres import migrate
from devstack.postgres.embedded import free_port
from devstack.relay.worker import start_in_thread
from devstack.services import ManagedProcess, function_process
from devstack.sweeper import drain_once
from tests.waiting import wait_for

FAST_TASKS = {
    "TASK_MIN_SECONDS": "0.2",
    "TASK_MAX_SECONDS": "0.4",
    "RETRY_BASE_DELAY_SECONDS": "0",
    "TASK_MODULES": "tests.task_fixtures",
}


@dataclass
class Stack:
    database_url: str
    secret: str
    ports: dict[str, int]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def url(self, function: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[function]}{path}"

    def request(
        self,
        function: str,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        request = urllib.request.Request(
            self.url(function, path), data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, json.loads(text) if text else None

    def submit(self, task_name: str, **fields: Any) -> str:
        status, body = self.request("submit", "POST", "/jobs", {"task_name": task_name, **fields})
        assert status == 202, body
        return str(body["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        with psycopg.connect(self.database_url) as conn:
            cur = conn.execute(
                "select status, attempts, result, error, msg_id from job_results where job_id = %s",
                (job_id,),
            )
            row = cur.fetchone()
        assert row is not None
        return dict(zip(("status", "attempts", "result", "error", "msg_id"), row, strict=True))

    def wait_for_status(self, job_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        """The job's row once it has ``status``; fails at the deadline."""
        return wait_for(
            lambda: (job := self.job(job_id))["status"] == status and job,
            timeout=timeout,
            what=f"job {job_id} to be {status}",
        )

    def archived(self, msg_id: int) -> bool:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "select exists (select 1 from pgmq.a_work_queue where msg_id = %s)"
                " and not exists (select 1 from pgmq.q_work_queue where msg_id = %s)",
                (msg_id, msg_id),
            ).fetchone()
        return bool(row and row[0])

    def start_function(self, name: str) -> ManagedProcess:
        sink = {"log_sink": self.log_sink} if self.log_sink is not None else {}
        process = function_process(name, self.ports[name], self.env_for(name), **sink).start()
        self.processes[name] = process
        if name == "process_job":
            # As the deployed sweeper's first run does: the worker's cold start publishes its
            # task kinds (the test task modules' too), which submit then accepts.
            drain_once(self.url("process_job"), self.secret, timeout_s=30)
        return process

    def env_for(self, name: str) -> dict[str, str]:
        common = {
            "DATABASE_URL": self.functions_database_url or self.database_url,
            "WEBHOOK_SECRET": self.secret,
            **self.database_env,
        }
        if name == "webhook":
            webhook = {"WEBHOOK_SECRET": self.secret, "PROCESS_JOB_URL": self.url("process_job")}
            return {**webhook, **self.every_env}
        if name == "process_job":
            return {**common, **FAST_TASKS, **self.extra_env, **self.every_env}
        return {**common, **self.submit_env, **self.every_env}

    extra_env: dict[str, str] = field(default_factory=dict)
    # Where the functions connect when not directly (a transaction pooler in front of it).
    functions_database_url: str | None = None
    log_sink: IO[str] | None = None
    database_env: dict[str, str] = field(default_factory=dict)
    submit_env: dict[str, str] = field(default_factory=dict)
    # Given to all three functions (tracing's OTEL_* variables, for one).
    every_env: dict[str, str] = field(default_factory=dict)


@contextmanager
def running_stack(
    database_url: str,
    functions: tuple[str, ...] = ("submit", "webhook", "process_job"),
    relay: bool = True,
    extra_env: Mapping[str, str] | None = None,
    functions_database_url: str | None = None,
    log_sink: IO[str] | None = None,
    database_env: Mapping[str, str] | None = None,
    submit_env: Mapping[str, str] | None = None,
    every_env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    stack = Stack(
        database_url=database_url,
        secret=generate_webhook_secret(),
        ports={name: free_port() for name in ("submit", "webhook", "process_job")},
        extra_env=dict(extra_env or {}),
        functions_database_url=functions_database_url,
        log_sink=log_sink,
        database_env=dict(database_env or {}),
        submit_env=dict(submit_env or {}),
        every_env=dict(every_env or {}),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.configure_webhook(conn, stack.url("webhook"), stack.secret)
    relay_handle = start_in_thread(database_url) if relay else None
    try:
        for name in functions:
            stack.start_function(name)
        yield stack
    finally:
        for process in stack.processes.values():
            process.stop()
        if relay_handle is not None:
            relay_handle.stop()
