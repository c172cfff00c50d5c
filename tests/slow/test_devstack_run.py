"""The run command (python -m devstack, what `make run` calls) on a fresh data folder: it comes
up, serves the page and the API, and Ctrl-C leaves no child process and no port behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack.config import load_or_create_secrets
from devstack.services import ROOT, port_open
from tests.waiting import wait_for


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data folder under the checkout's .devstack/, as conftest's Postgres uses: under
    /tmp/pytest-of-root the postgres system user loses its way in whenever another pytest run
    starts, since pytest makes that folder private again."""
    folder = ROOT / ".devstack" / f"run-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_stack_comes_up_and_shuts_down_clean(tmp_path: Path, data_dir: Path) -> None:
    # Below the ephemeral range, so no outgoing connection holds one of the six ports.
    base = next(b for b in range(21000, 29000, 7) if not any(port_open(b + i) for i in range(6)))
    log = (tmp_path / "run.log").open("w")
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "--data-dir",
            str(data_dir),
            "--base-port",
            str(base),
            "--task-min-seconds",
            "0.1",
            "--task-max-seconds",
            "0.2",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": ""},
    )
    ports = [base + i for i in range(6)]
    try:

        def ready() -> bool:
            assert runner.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            return "[devstack] ready" in (tmp_path / "run.log").read_text()

        wait_for(
            ready,
            timeout=120,
            interval=0.2,
            what="the stack to be ready",
        )
        assert all(port_open(p) for p in ports), (tmp_path / "run.log").read_text()[-3000:]
        children = descendants(runner.pid)
        assert len(children) >= 6
        with urllib.request.urlopen(f"http://127.0.0.1:{base}/", timeout=10) as page:
            assert b"<html" in page.read().lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{base}/config.js", timeout=10) as config:
            config_js = config.read().decode()
        local = load_or_create_secrets(data_dir)
        assert local.publishable_key.startswith("sb_publishable_")
        assert local.publishable_key in config_js
        # The banner names everything the README's examples need.
        shown = (tmp_path / "run.log").read_text()
        for label, value in (
            ("page", f"http://127.0.0.1:{base}"),
            ("jobs API", f"http://127.0.0.1:{base + 3}/jobs"),
            ("Supabase URL", f"http://127.0.0.1:{base + 1}"),
            ("publishable key", local.publishable_key),
            ("anon key (legacy)", local.anon_key),
            ("data", str(data_dir)),
        ):
            assert re.search(rf"  {re.escape(label)} +{re.escape(value)}", shown), label
        # The local Auth publishes the stack's ES256 signing key, as a new project's.
        jwks_url = f"http://127.0.0.1:{base + 1}/auth/v1/.well-known/jwks.json"
        with urllib.request.urlopen(jwks_url, timeout=10) as answer:
            (published,) = json.loads(answer.read())["keys"]
        assert (published["alg"], published["kid"]) == ("ES256", local.es256_kid)
        for step in ("creating and starting the embedded Postgres", "applying migrations"):
            assert f"[devstack] {step}" in shown
        for secret in (
            local.service_role_key,
            local.secret_key,
            local.jwt_secret,
            local.webhook_secret,
            local.es256_pem,
            "postgres",
        ):
            assert secret not in config_js
        request = urllib.request.Request(
            f"http://127.0.0.1:{base + 3}/jobs",
            data=json.dumps({"task_name": "smoke", "kind": "noop"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            job_id = json.loads(response.read())["job_id"]

        def status() -> str | None:
            url = f"http://127.0.0.1:{base + 3}/jobs/{job_id}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                value = json.loads(answer.read())["status"]
            return value if value == "completed" else None

        wait_for(status, timeout=60, what="the smoke job to complete")
    finally:
        runner.send_signal(signal.SIGINT)
        exit_code = runner.wait(timeout=90)
        log.close()
    assert exit_code == 0, (tmp_path / "run.log").read_text()[-3000:]
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
    assert not any(port_open(p) for p in ports)
    assert "[devstack] stopped" in (tmp_path / "run.log").read_text()
