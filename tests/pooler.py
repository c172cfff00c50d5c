"""Debian's pgbouncer in transaction mode in front of a test Postgres, as Supabase's pooler on
port 6543 stands in front of a hosted database: its own config and auth file in a temporary
folder, a free loopback port, stopped when the context ends."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from devstack.postgres.embedded import _ensure_system_user, free_port
from devstack.services import port_open
from tests.waiting import wait_for

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@dataclass(frozen=True)
class Pooler:
    port: int
    user: str
    password: str
    log: Path

    def url_for(self, database: str) -> str:
        """What a function gets as DATABASE_URL: the pooler, not the server."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _config(server_host: str, server_port: int, port: int, folder: Path) -> str:
    return f"""\
[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {folder / "userlist.txt"}
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_round_robin = 0
pidfile = {folder / "pgbouncer.pid"}
logfile = {folder / "pgbouncer.log"}
"""


@contextmanager
def pgbouncer(server_url: str) -> Iterator[Pooler]:
    """pgbouncer for ``server_url``'s server (any database on it), transaction pooling."""
    if not os.path.exists(PGBOUNCER):
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)")
    server = urlsplit(server_url)
    user = server.username or "postgres"
    password = secrets.token_urlsafe(18)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="supajobs-pgbouncer-"))
    (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (folder / "pgbouncer.ini").write_text(
        _config(server.hostname or "127.0.0.1", server.port or 5432, port, folder)
    )
    # pgbouncer refuses to run as root; as root it runs as the embedded Postgres's system user.
    system_user = _ensure_system_user()
    identity: dict[str, object] = {}
    if system_user is not None:
        entry = pwd.getpwnam(system_user)
        os.chmod(folder, 0o700)
        for path in (folder, *folder.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    process = subprocess.Popen(
        [PGBOUNCER, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **identity,  # type: ignore[call-overload]
    )
    pooler = Pooler(port, user, password, folder / "pgbouncer.log")
    try:
        wait_for(
            lambda: port_open(port) or process.poll() is not None,
            timeout=15,
            what="pgbouncer to listen",
        )
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited at start:\n{pooler.log_text()}")
        yield pooler
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
