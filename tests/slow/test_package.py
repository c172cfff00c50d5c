"""The package as a user gets it: the wheel is built, installed into a fresh virtualenv (no
checkout on its path), and its console scripts migrate a real Postgres and run the Realtime
gateway, which delivers a change to a WebSocket client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from websockets.sync.client import connect

from devstack.auth.keys import generate_jwt_secret, mint_keys
from devstack.postgres.embedded import free_port
from devstack.services import ROOT, port_open
from tests.conftest import get_server
from tests.waiting import wait_for


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{argv[:3]} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would put the checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _project_files() -> list[str]:
    """The checkout's files, as git sees them (tracked, or new and not ignored)."""
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], ROOT)
    return [name for name in listed.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the project's files: a build in the checkout would leave
    build/ behind, whose stale files would go into later wheels."""
    source = tmp_path_factory.mktemp("source")
    for name in _project_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    uv = _uv()
    if uv:
        _run([uv, "build", "--quiet", "--wheel", "--out-dir", str(out), str(source)], out)
    else:
        pip = [sys.executable, "-m", "pip"]
        _run([*pip, "wheel", "-q", "--no-deps", "-w", str(out), str(source)], out)
    [built] = out.glob("supajobs-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its devstack extra installed (not editable)."""
    folder = tmp_path_factory.mktemp("venv") / "venv"
    target = f"{wheel}[devstack]"
    uv = _uv()
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(folder)], folder.parent)
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(folder / "bin" / "python"), target],
            folder.parent,
        )
    else:
        _run([sys.executable, "-m", "venv", str(folder)], folder.parent)
        _run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", target], folder.parent)
    return folder


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database with nothing in it, on the embedded server."""
    server = get_server("embedded")
    name = "pkg_" + os.urandom(6).hex()
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield server.url_for(name)
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_the_wheel_holds_every_package_file_migration_and_the_licence(wheel: Path) -> None:
    packaged = ("functions/", "devstack/", "client/")
    # Every file in the package folders: modules, SQL, and any data file they read.
    wanted = {p for p in _project_files() if p.startswith(packaged)}
    migrations = sorted(p.name for p in (ROOT / "supabase" / "migrations").glob("*.sql"))
    assert migrations, "no migrations in the checkout"
    wanted |= {f"devstack/migrations/{name}" for name in migrations}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [info] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(info).decode()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
        [licence] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        licence_text = archive.read(licence).decode()
    assert sorted(wanted - names) == []
    assert not any(n.startswith(("tests/", "bench/", "supabase/", "frontend/")) for n in names)
    assert "License-Expression: MIT" in metadata
    assert "Copyright (c) 2026 supajobs contributors" in licence_text
    for script in ("supajobs =", "supajobs-dev =", "supajobs-migrate =", "supajobs-realtime ="):
        assert script in scripts
    # Typed (PEP 561), and described for an index.
    assert {"functions/py.typed", "devstack/py.typed", "client/py.typed"} <= names
    assert "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: Source, " in metadata and "Project-URL: Issues, " in metadata


def test_a_script_whose_extra_is_missing_names_it_and_exits_2(venv: Path, tmp_path: Path) -> None:
    """The venv has the devstack extra only: the client's scripts say what to install."""
    for script, extra in (("supajobs", "client"), ("supajobs-dev", "client")):
        done = subprocess.run(
            [str(venv / "bin" / script), "--help"],
            cwd=tmp_path,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, (script, done.stdout, done.stderr)
        assert f"pip install 'supajobs[{extra}]'" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    # The ones whose extra is there run, and their usage lines name the installed script.
    for script in ("supajobs-migrate", "supajobs-relay", "supajobs-realtime"):
        out = _run([str(venv / "bin" / script), "--help"], tmp_path, _clean_env())
        assert out.startswith(f"usage: {script} "), out[:200]


def test_the_installed_package_migrates_and_runs_the_gateway(
    venv: Path, empty_database: str, tmp_path: Path
) -> None:
    python = venv / "bin" / "python"
    where = _run(
        [str(python), "-c", "import devstack.postgres.migrate as m; print(m.MIGRATIONS_DIR)"],
        tmp_path,
        _clean_env(),
    ).strip()
    assert Path(where).is_relative_to(venv), f"migrations found outside the venv: {where}"

    out = _run(
        [str(venv / "bin" / "supajobs-migrate"), "--database-url", empty_database],
        tmp_path,
        _clean_env(),
    )
    count = len(list((ROOT / "supabase" / "migrations").glob("*.sql")))
    assert f"{count} migration(s) applied" in out
    with psycopg.connect(empty_database) as conn:
        row = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()
        assert row == (count,)

    secret = generate_jwt_secret()
    anon = mint_keys(secret).anon_key
    port = free_port()
    log = (tmp_path / "gateway.log").open("w")
    gateway = subprocess.Popen(
        [
            str(venv / "bin" / "supajobs-realtime"),
            "--database-url",
            empty_database,
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=_clean_env(SUPABASE_JWT_SECRET=secret),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def listening() -> bool:
            assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
            return port_open(port)

        wait_for(listening, timeout=60, what="the installed gateway to listen")
        url = f"ws://127.0.0.1:{port}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0"
        with closing(connect(url)) as ws:
            changes = {"event": "INSERT", "schema": "public", "table": "job_results"}
            join = {"config": {"postgres_changes": [changes]}, "access_token": anon}
            ws.send(json.dumps(["1", "1", "realtime:pkg", "phx_join", join]))

            def frame(event: str) -> list[object]:
                while True:
                    message = json.loads(ws.recv(timeout=20))
                    if message[3] == event:
                        return list(message)

            system = frame("system")
            assert system[4] == {
                "extension": "postgres_changes",
                "status": "ok",
                "message": "Subscribed to PostgreSQL",
                "channel": "pkg",
            }
            with psycopg.connect(empty_database, autocommit=True) as conn:
                conn.execute(
                    "insert into public.job_results (task_name, status)"
                    " values ('from the wheel', 'pending')"
                )
            change = frame("postgres_changes")
            data = change[4]["data"]  # type: ignore[index]
            assert data["type"] == "INSERT" and data["record"]["task_name"] == "from the wheel"
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        log.close()


def test_the_runner_refuses_a_folder_without_migrations(tmp_path: Path) -> None:
    from devstack.postgres import migrate

    with pytest.raises(FileNotFoundError, match="no migrations"):
        migrate.discover(tmp_path)
