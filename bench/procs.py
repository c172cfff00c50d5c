"""Worker processes that start on a signal: each one connects and warms up, says ``ready``,
waits for ``go`` on stdin, works, and says ``done <unix time> <jobs>``. Timing runs from ``go``
to the last ``done``, so no system is charged for its interpreter start or its imports."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO

from devstack.services import ROOT


def ready() -> None:
    """Worker side: warmed up."""
    print("ready", flush=True)


def wait_for_go() -> None:
    """Worker side: block until the parent says go."""
    sys.stdin.readline()


def done(jobs: int) -> None:
    """Worker side: finished, now, having handled ``jobs``."""
    print(f"done {time.time()!r} {jobs}", flush=True)


@dataclass(frozen=True)
class Finished:
    at: float
    jobs: int


class WorkerGroup:
    """``count`` copies of ``python -m bench.worker <args>``."""

    def __init__(self, args: list[str], count: int, log: IO[str], env: dict[str, str]) -> None:
        self._args = args
        self._count = count
        self._log = log
        self._env = env
        self._procs: list[subprocess.Popen[str]] = []
        self._lines: queue.Queue[tuple[int, str]] = queue.Queue()

    def start(self, timeout_s: float = 60.0) -> WorkerGroup:
        """Launch them and wait until all are ready."""
        self.launch()
        self.expect("ready", timeout_s)
        return self

    def launch(self) -> WorkerGroup:
        """Spawn them; ``expect("ready", ...)`` waits until they are warm."""
        for index in range(self._count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", *self._args],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **self._env},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                start_new_session=True,
            )
            self._procs.append(proc)
            threading.Thread(target=self._read, args=(index, proc), daemon=True).start()
        return self

    def _read(self, index: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put((index, line.strip()))
        self._lines.put((index, "exit"))

    def expect(self, word: str, timeout_s: float) -> list[str]:
        """Wait until every worker has printed ``word`` (alone, or before a space); their
        lines. Other lines meanwhile are dropped."""
        deadline = time.monotonic() + timeout_s
        got: dict[int, str] = {}
        while len(got) < self._count:
            try:
                index, line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{len(got)}/{self._count} workers said {word!r}") from None
            if line == "exit":
                if index in got:
                    continue  # it said its word, then finished
                name = " ".join(self._args[:2])
                raise RuntimeError(f"a {name} worker exited before saying {word!r}")
            if line == word or line.startswith(word + " "):
                got[index] = line
        return list(got.values())

    def go(self) -> float:
        """Start them all; the time they were told."""
        started = time.time()
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return started

    def wait_done(self, timeout_s: float) -> list[Finished]:
        lines = self.expect("done", timeout_s)
        return [Finished(float(ln.split()[1]), int(ln.split()[2])) for ln in lines]

    def stop(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def __enter__(self) -> WorkerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def timed_drain(
    system: str, database_url: str, workers: int, log: IO[str], timeout_s: float
) -> tuple[float, int]:
    """(seconds from go to the last worker done, jobs the workers say they handled)."""
    with WorkerGroup([system, "drain", database_url], workers, log, {}).start() as group:
        began = group.go()
        finished = group.wait_done(timeout_s)
    return max(f.at for f in finished) - began, sum(f.jobs for f in finished)
