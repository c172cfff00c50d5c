"""No secret on a command line: every process the local stack starts (the functions, the relay,
the Realtime gateway, the page server) gets the database URL, with its password, and the
project's secrets through its environment, since any user on the machine can read every
process's command line (``ps``, ``/proc/<pid>/cmdline``) but not its environment."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import pytest

from devstack.config import load_or_create_secrets
from devstack.services import ROOT, port_open
from tests.conftest import get_server
from tests.waiting import wait_for


@pytest.fixture
def url_with_password(embedded_db_url: str) -> Iterator[tuple[str, str]]:
    """A fresh migrated database reached as a role of its own with a password: (URL, password)."""
    server = get_server("embedded")
    role = f"argv_{uuid.uuid4().hex[:10]}"
    password = "pw-" + secrets.token_urlsafe(18)
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f"create role {role} login superuser password '{password}'")
    parts = urlsplit(embedded_db_url)
    host = parts.netloc.rpartition("@")[2]
    try:
        yield urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}")), password
    finally:
        database = parts.path.lstrip("/")
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{database}" with (force)')
            admin.execute(f"drop role if exists {role}")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Under the checkout's .devstack/, as test_devstack_run.py explains."""
    folder = ROOT / ".devstack" / f"argv-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def test_no_child_of_the_stack_has_a_secret_on_its_command_line(
    tmp_path: Path, data_dir: Path, url_with_password: tuple[str, str]
) -> None:
    database_url, password = url_with_password
    base = next(b for b in range(21000, 29000, 7) if not any(port_open(b + i) for i in range(6)))
    log_path = tmp_path / "run.log"
    log = log_path.open("w")
    runner = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--data-dir", str(data_dir), "--base-port", str(base)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    try:

        def ready() -> bool:
            assert runner.poll() is None, log_path.read_text()[-3000:]
            return "[devstack] ready" in log_path.read_text()

        wait_for(ready, timeout=120, interval=0.2, what="the stack to be ready")
        local = load_or_create_secrets(data_dir)
        secret_values = {
            "the database password": password,
            "the JWT secret": local.jwt_secret,
            "the webhook secret": local.webhook_secret.removeprefix("whsec_"),
            "the secret key": local.secret_key,
            "the service_role key": local.service_role_key,
            # The PEM's base64 body, line by line: any of it on a command line is a leak.
            **{
                f"the signing key (line {n})": line
                for n, line in enumerate(local.es256_pem.splitlines())
                if line and not line.startswith("-----")
            },
        }
        assert all(secret_values.values())
        processes = [psutil.Process(runner.pid), *psutil.Process(runner.pid).children(True)]
        # The functions (each functions-framework), the relay, the gateway, the page server.
        assert len(processes) >= 7, [p.cmdline() for p in processes]
        for process in processes:
            command_line = _cmdline(process.pid)
            assert command_line, f"{process.pid} has no command line to check"
            for what, value in secret_values.items():
                assert value.encode() not in command_line, (
                    f"{what} is on the command line of {process.cmdline()}"
                )
        # Where the secrets do go: the gateway's environment holds the URL and the JWT secret.
        [gateway] = [p for p in processes if b"devstack.realtime" in _cmdline(p.pid)]
        environment = _environ(gateway.pid).split(b"\0")
        assert f"DATABASE_URL={database_url}".encode() in environment
        assert f"SUPABASE_JWT_SECRET={local.jwt_secret}".encode() in environment
    finally:
        runner.send_signal(signal.SIGINT)
        exit_code = runner.wait(timeout=90)
        log.close()
    assert exit_code == 0, log_path.read_text()[-3000:]
