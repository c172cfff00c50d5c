"""Child processes of the local stack: started in their own process group, awaited until their
port answers, stopped with everything they spawned (gunicorn's workers included)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("submit", "webhook", "process_job")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.25):
            return True
    except OSError:
        return False


def _pump(stream: IO[bytes], prefix: str, sink: IO[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.write(f"{prefix} {raw.decode('utf-8', 'replace').rstrip()}\n")
        sink.flush()


@dataclass
class ManagedProcess:
    """One child process with its output prefixed by ``name``."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    log_sink: IO[str] = sys.stderr
    _proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> ManagedProcess:
        self._proc = subprocess.Popen(
            list(self.argv),
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )
        assert self._proc.stdout is not None
        threading.Thread(
            target=_pump, args=(self._proc.stdout, f"[{self.name}]", self.log_sink), daemon=True
        ).start()
        if self.port is not None:
            self.wait_until_listening(timeout_s)
        return self

    def wait_until_listening(self, timeout_s: float) -> None:
        assert self.port is not None
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._proc.returncode} on start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not listen on port {self.port} in time")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The last run's exit status (negative: the signal that ended it); None while running."""
        return self._proc.poll() if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, as the fault tests need it."""
        self._signal_group(signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait(timeout=10)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._signal_group(signal.SIGKILL)  # reap anything the leader left behind
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=timeout_s)
        self._signal_group(signal.SIGKILL)
        self._proc.wait(timeout=5)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)


# functions-framework's server (gunicorn) answers 4 requests a core at once by default; a drain
# holds its request for its whole length, so process_job's concurrency, like Lambda's reserved
# concurrency, is set by the database's worker ceiling instead, never by this.
SERVER_THREADS = {"THREADS": "64"}


def function_process(
    target: str, port: int, env: Mapping[str, str], log_sink: IO[str] = sys.stderr
) -> ManagedProcess:
    """A functions-framework server for one of the three functions."""
    if target not in FUNCTIONS:
        raise ValueError(f"unknown function {target!r}")
    executable = Path(sys.executable).with_name("functions-framework")
    return ManagedProcess(
        name=target,
        argv=[
            str(executable),
            "--target",
            target,
            "--source",
            str(ROOT / "functions" / f"{target}.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        # Lines for a person at a terminal; deployed functions log JSON (functions/logs.py).
        env={
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "LOG_FORMAT": "text",
            **SERVER_THREADS,
            **env,
        },
        port=port,
        log_sink=log_sink,
    )
