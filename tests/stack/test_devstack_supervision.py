"""The run command keeps its children alive: a child killed with SIGKILL is started again (a new
pid) and the stack keeps working; a child that keeps crashing stops the stack with a reason."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from devstack.services import ROOT, port_open
from tests.waiting import wait_for


@dataclass
class RunningStack:
    runner: subprocess.Popen[bytes]
    base: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def child_pid(self, marker: str) -> int | None:
        """The pid of the runner's direct child whose command line holds ``marker``."""
        assert self.runner.poll() is None, self.log()[-3000:]
        for child in psutil.Process(self.runner.pid).children():
            try:
                if marker in " ".join(child.cmdline()):
                    return int(child.pid)
            except psutil.NoSuchProcess:
                continue
        return None

    def api(self, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.base + 3}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
            method="POST" if body is not None else "GET",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, object] = json.loads(response.read())
            return answer


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    # The cluster's files live outside pytest's temporary root: every pytest run that starts
    # meanwhile makes that root private again, and the cluster's own user could not reach it.
    (ROOT / ".devstack").mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="supervision-", dir=ROOT / ".devstack"))
    base = next(b for b in range(29000, 21000, -7) if not any(port_open(b + i) for i in range(6)))
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
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
                # No sweeper tick during the test: a job completes only through its wake-up.
                "--sweep-interval",
                "3600",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DATABASE_URL": ""},
        )
    running = RunningStack(runner, base, log_path)
    try:
        wait_for(
            lambda: "[devstack] ready" in running.log() and running.runner.poll() is None,
            timeout=120,
            interval=0.2,
            what="the stack to be ready",
        )
        yield running
    finally:
        descendants = []
        if runner.poll() is None:
            descendants = psutil.Process(runner.pid).children(recursive=True)
            runner.send_signal(signal.SIGINT)
        runner.wait(timeout=90)
        for child in descendants:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
        assert not any(port_open(base + i) for i in range(6))
        shutil.rmtree(data_dir, ignore_errors=True)


def kill_and_wait_for_restart(stack: RunningStack, marker: str) -> tuple[int, float]:
    """SIGKILL the child named by ``marker``; its new pid, and seconds until it was seen."""
    old = stack.child_pid(marker)
    assert old is not None, stack.log()[-3000:]
    killed_at = time.monotonic()
    os.kill(old, signal.SIGKILL)
    new = wait_for(
        lambda: pid if (pid := stack.child_pid(marker)) not in (None, old) else None,
        timeout=60,
        interval=0.05,
        what=f"{marker} to be started again",
    )
    return new, time.monotonic() - killed_at


def test_a_killed_function_and_a_killed_relay_come_back_and_jobs_still_complete(
    stack: RunningStack,
) -> None:
    for name, marker in (("process_job", "--target process_job"), ("relay", "devstack.relay")):
        killed_at = time.monotonic()
        new_pid, after_s = kill_and_wait_for_restart(stack, marker)
        wait_for(
            lambda name=name: f"[devstack] {name} restarted" in stack.log(),  # type: ignore[misc]
            timeout=60,
            what=f"{name} to report it is back",
        )
        back_s = time.monotonic() - killed_at
        print(f"{name}: new pid {new_pid} {after_s:.2f}s, ready {back_s:.2f}s after SIGKILL")
        assert f"[devstack] {name} stopped (killed by SIGKILL); restarting in" in stack.log()
    assert port_open(stack.base + 5)  # process_job listens again

    job_id = stack.api("/jobs", {"task_name": "after the crashes", "kind": "noop"})["job_id"]
    # The relay delivers its wake-up to the webhook, which invokes the new process_job.
    wait_for(
        lambda: stack.api(f"/jobs/{job_id}")["status"] == "completed",
        timeout=60,
        what="the job submitted after the restarts to complete",
    )
    assert stack.runner.poll() is None


def test_a_child_that_keeps_crashing_stops_the_stack_with_a_clear_message(
    stack: RunningStack,
) -> None:
    for _ in range(4):
        kill_and_wait_for_restart(stack, "devstack.relay")
    started = time.monotonic()
    pid = stack.child_pid("devstack.relay")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    exit_code = stack.runner.wait(timeout=90)
    print(f"the stack stopped {time.monotonic() - started:.2f}s after the fifth crash")
    assert exit_code == 1, stack.log()[-3000:]
    log = stack.log()
    assert "[devstack] relay crashed 5 times within 60s (last: killed by SIGKILL)" in log
    assert "stopping the stack" in log
    assert "[devstack] stopped" in log
