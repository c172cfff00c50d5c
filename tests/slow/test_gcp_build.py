"""The Google Cloud Run functions build, as Google's Python buildpack makes it: the files
``gcloud functions deploy --source .`` uploads (what .gcloudignore leaves), a fresh virtualenv
on the runtime's Python with only requirements.txt installed, and ``functions-framework
--target <name>`` started from that source root. Each function answers against the test
Postgres; then a job goes all the way: Google-built submit → database trigger → relay →
webhook → Cloud Tasks stand-in → process_job (an ID token the stand-in signs) → completed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.config import generate_webhook_secret
from devstack.postgres import migrate
from devstack.postgres.embedded import free_port
from devstack.relay.worker import start_in_thread
from devstack.services import port_open
from functions.core.signatures import parse_secret, sign
from tests.cloud_tasks_standin import StandIn, cloud_tasks_standin
from tests.gcloud_sdk import NEEDS_GCLOUD
from tests.google_tokens import id_token_claims, make_key
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = "3.13"  # deploy/gcp/deploy.sh deploys --runtime python313
QUEUE = "projects/demo-project/locations/europe-west1/queues/supajobs-wakeups"
INVOKER = "supajobs-invoker@demo-project.iam.gserviceaccount.com"
SCHEDULER = "supajobs-scheduler@demo-project.iam.gserviceaccount.com"
FUNCTIONS = ("submit", "webhook", "process_job")


def uploaded_files() -> list[str]:
    """The checkout's files that .gcloudignore leaves for upload (git's matcher, which follows
    the same gitignore rules gcloud documents for it)."""

    def listed(*args: str) -> set[str]:
        done = subprocess.run(
            ["git", "ls-files", "-c", *args], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return set(done.stdout.split())

    ignored = listed("-i", "--exclude-from=.gcloudignore")
    return sorted(p for p in listed() - ignored if (ROOT / p).is_file())


def runtime_python() -> str:
    versions = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
    found = sorted(versions.glob(f"{RUNTIME}.*/bin/python3"))
    return str(found[-1]) if found else sys.executable


@dataclass(frozen=True)
class Build:
    source: Path
    venv: Path
    took_s: float


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("gcp-build")
    source = folder / "workspace"  # the buildpack's /workspace
    for relative in uploaded_files():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, source / relative)
    venv = folder / "venv"
    uv = Path(sys.executable).with_name("uv")
    requirements = str(source / "requirements.txt")
    if uv.exists():
        subprocess.run(
            [str(uv), "venv", "--quiet", "--python", runtime_python(), str(venv)], check=True
        )
        install = [str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
        subprocess.run([*install, "-r", requirements], check=True, timeout=600)
    else:
        subprocess.run([runtime_python(), "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-r", requirements], check=True, timeout=600)
    return Build(source, venv, time.monotonic() - started)


@dataclass
class Running:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@contextmanager
def serve(build: Build, name: str, port: int, env: Mapping[str, str]) -> Iterator[Running]:
    """``functions-framework --target name`` from the source root, as the runtime starts it:
    the working directory is the source, and the environment holds only what the deploy sets."""
    log = build.source.parent / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                str(build.venv / "bin" / "functions-framework"),
                "--target",
                name,
                "--port",
                str(port),
            ],
            cwd=build.source,
            env={
                "PATH": f"{build.venv / 'bin'}:/usr/bin:/bin",
                "HOME": str(build.source.parent),
                "FUNCTION_TARGET": name,  # as Cloud Run sets it
                **env,
            },
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(name, port, process, log)
    try:
        wait_for(
            lambda: port_open(port) or process.poll() is not None,
            timeout=60,
            what=f"{name} to listen",
        )
        assert process.poll() is None, log.read_text()
        yield running
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def call(
    url: str, body: Any = None, headers: Mapping[str, str] | None = None, raw: bytes | None = None
) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def signed_headers(secret: str, webhook_id: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign([parse_secret(secret)], webhook_id, now, body),
    }


def threads_in_our_code(pid: int) -> list[str]:
    """Every thread of the server (its worker processes included) whose stack is in the
    functions package, read with py-spy; the request threads that answered are back in the
    server's own code by the time their response has been read."""
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "dump",
            "--full-filenames",
            "--pid",
            str(pid),
            "--subprocesses",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    threads = done.stdout.split("\nThread ")
    return [t.splitlines()[0] for t in threads if "/workspace/functions/" in t]


def loaded_grpc(pid: int) -> bool:
    """Whether the server (or its worker process) has loaded gRPC's native module, which
    importing the Cloud Tasks client library does."""
    import psutil

    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return any("cygrpc" in m.path for p in processes for m in p.memory_maps())


@dataclass
class GoogleStack:
    database_url: str
    secret: str
    tasks: StandIn
    functions: dict[str, Running]


@pytest.fixture
def google_stack(build: Build, db_url: str) -> Iterator[GoogleStack]:
    secret = generate_webhook_secret()
    ports = {name: free_port() for name in FUNCTIONS}
    process_job_url = f"http://127.0.0.1:{ports['process_job']}/"
    with ExitStack() as stack:
        tasks = stack.enter_context(cloud_tasks_standin())
        tasks.add_queue(QUEUE, max_attempts=3, min_backoff_s=0.1)
        env = {
            "submit": {"DATABASE_URL": db_url},
            "webhook": {
                "WEBHOOK_SECRET": secret,
                "PROCESS_JOB_URL": process_job_url,
                "CLOUD_TASKS_QUEUE": QUEUE,
                "PROCESS_JOB_INVOKER_SERVICE_ACCOUNT": INVOKER,
                "CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS": "1800",
                "CLOUD_TASKS_ENDPOINT": tasks.endpoint,
            },
            "process_job": {
                "DATABASE_URL": db_url,
                "PROCESS_JOB_AUTH": "google-id-token",
                "PROCESS_JOB_AUDIENCE": process_job_url,
                "PROCESS_JOB_CALLERS": f"{INVOKER},{SCHEDULER}",
                "GOOGLE_CERTS_URL": tasks.certs_url,
                "PROCESS_JOB_TIMEOUT_SECONDS": "1800",
                "CLOUD_RUN_TIMEOUT_SECONDS": "1800",
                "TASK_MIN_SECONDS": "0.1",
                "TASK_MAX_SECONDS": "0.2",
                "RETRY_BASE_DELAY_SECONDS": "0",
            },
        }
        functions = {
            name: stack.enter_context(serve(build, name, ports[name], env[name]))
            for name in FUNCTIONS
        }
        yield GoogleStack(db_url, secret, tasks, functions)


def token_for(tasks: StandIn, audience: str, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tasks.key.sign(id_token_claims(audience, email))}"}


def job_status(database_url: str, job_id: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select status from job_results where job_id = %s", (job_id,)).fetchone()
    return None if row is None else str(row[0])


def until_status(database_url: str, job_id: str, status: str) -> None:
    wait_for(
        lambda: job_status(database_url, job_id) == status,
        timeout=60,
        what=f"job {job_id} to be {status}",
    )


# -- the build -------------------------------------------------------------------------------


def test_the_upload_is_main_requirements_and_the_functions_package() -> None:
    files = uploaded_files()
    assert "main.py" in files and "requirements.txt" in files
    assert {f.split("/")[0] for f in files} == {"main.py", "requirements.txt", "functions"}
    # What is never deployed stays behind.
    assert "functions/fakes.py" not in files and "functions/testing.py" not in files
    assert "pyproject.toml" not in files  # so requirements.txt is the one list the build reads
    done = subprocess.run(
        [sys.executable, "scripts/gcp_requirements.py", "--check"], cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, done.stderr


@NEEDS_GCLOUD
def test_gcloud_would_upload_exactly_these_files(tmp_path: Path) -> None:
    done = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "CLOUDSDK_CONFIG": str(tmp_path),  # no account: this command needs none
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        },
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == uploaded_files()


def test_each_function_answers_from_the_google_build(google_stack: GoogleStack) -> None:
    submit, webhook, process_job = (google_stack.functions[n] for n in FUNCTIONS)
    tasks = google_stack.tasks

    status, body = call(submit.url + "jobs", {"task_name": "built", "kind": "noop"})
    assert status == 202, body
    job_id = body["job_id"]

    # The webhook's instance loaded the Cloud Tasks client while starting, before any request.
    assert loaded_grpc(webhook.process.pid)
    # A wake-up as the database sends one (no webhook is configured here, so recorded by hand).
    wake_id = "wake_" + uuid.uuid4().hex
    with psycopg.connect(google_stack.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into private.wake_ups (wake_id, reason) values (%s, 'test')", (wake_id,)
        )
    wake = json.dumps({"wake_id": wake_id}).encode()
    status, body = call(webhook.url, raw=wake)
    assert status == 401 and body["error"]["code"]
    signed = signed_headers(google_stack.secret, wake_id, wake)
    status, body = call(webhook.url, raw=wake, headers=signed)
    assert status == 202, body
    assert len(tasks.created) == 1  # the task exists by the time the webhook has answered
    # The client library is the webhook's alone: submit answered without ever loading it.
    assert not loaded_grpc(submit.process.pid) and not loaded_grpc(process_job.process.pid)

    forged = make_key(tasks.key.key_id).sign(id_token_claims(process_job.url, INVOKER))
    for refused in ({}, {"Authorization": f"Bearer {forged}"}):
        status, body = call(process_job.url, headers=refused)
        assert status == 401 and body["error"]["code"]
    # The task's call of process_job completes the job.
    until_status(google_stack.database_url, job_id, "completed")
    # Cloud Scheduler's sweep carries its own service account's token.
    status, body = call(process_job.url, headers=token_for(tasks, process_job.url, SCHEDULER))
    assert status == 200, body
    # The task's call answers once its drain has lingered (a worker that ran something waits
    # a moment for more), which can be after the job shows completed.
    wait_for(lambda: [d.status for d in tasks.snapshot()] == [200], what="the task's 200")


def test_a_job_goes_from_google_built_submit_through_cloud_tasks_to_completed(
    google_stack: GoogleStack,
) -> None:
    submit, webhook, process_job = (google_stack.functions[n] for n in FUNCTIONS)
    tasks = google_stack.tasks
    with psycopg.connect(google_stack.database_url, autocommit=True) as conn:
        migrate.configure_webhook(conn, webhook.url, google_stack.secret)
    relay = start_in_thread(google_stack.database_url)
    try:
        # The probe sees our code while it runs: a task under way is in process_job's threads.
        status, body = call(submit.url + "jobs", {"task_name": "probe", "payload": {"seconds": 2}})
        assert status == 202, body
        until_status(google_stack.database_url, body["job_id"], "running")
        assert threads_in_our_code(process_job.process.pid) != []
        until_status(google_stack.database_url, body["job_id"], "completed")
        wait_for(tasks.idle, timeout=30, what="the probe's task to end")
        for n in range(3):
            status, body = call(
                submit.url + "jobs", {"task_name": f"e2e {n}", "payload": {"seconds": 0.1}}
            )
            assert status == 202, body
            until_status(google_stack.database_url, body["job_id"], "completed")
            wait_for(tasks.idle, timeout=30, what="the task to end")
            # Nothing of ours runs on in any function once its answer is out.
            for running in (submit, webhook, process_job):
                assert threads_in_our_code(running.process.pid) == [], running.name
        with psycopg.connect(google_stack.database_url) as conn:
            row = conn.execute(
                "select count(*) from net._http_response where status_code = 202"
            ).fetchone()
        wake_ups = int(row[0]) if row else 0
    finally:
        relay.stop()
    # One task per wake-up the webhook accepted, each dispatched once and answered 200.
    assert wake_ups >= 1
    assert len(tasks.created) == wake_ups
    assert [d.status for d in tasks.snapshot()] == [200] * wake_ups


def test_process_job_plans_its_drain_by_the_configured_timeout(build: Build, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "select submit_job('long', %s::jsonb, kind => 'simulate')", ('{"seconds": 0.1}',)
        ).fetchone()
    assert row is not None
    job_id = str(row[0])
    with cloud_tasks_standin() as google:
        for timeout_s, expected in ((3, "pending"), (60, "completed")):
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            env = {
                "DATABASE_URL": db_url,
                "PROCESS_JOB_AUTH": "google-id-token",
                "PROCESS_JOB_AUDIENCE": url,
                "PROCESS_JOB_CALLERS": SCHEDULER,
                "GOOGLE_CERTS_URL": google.certs_url,
                "PROCESS_JOB_TIMEOUT_SECONDS": str(timeout_s),
                # simulate declares TASK_MAX_SECONDS + 1 = 6 s, whatever the payload asks.
                "TASK_MIN_SECONDS": "5",
                "TASK_MAX_SECONDS": "5",
                "WORKER_LINGER_SECONDS": "0",
            }
            with serve(build, "process_job", port, env) as process_job:
                status, body = call(process_job.url, headers=token_for(google, url, SCHEDULER))
                assert status == 200, body
                assert job_status(db_url, job_id) == expected
                if expected == "completed":
                    assert body["completed"] == 1
                    continue
                # A 6-second task does not fit a 3-second call: nothing is started, and a warm
                # call answers at once, well inside the limit.
                assert body["completed"] == 0
                started = time.monotonic()
                status, body = call(process_job.url, headers=token_for(google, url, SCHEDULER))
                assert status == 200 and body["completed"] == 0
                assert time.monotonic() - started < 1.0
                assert job_status(db_url, job_id) == "pending"
