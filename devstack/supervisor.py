"""Keeps the local stack's children running: one that exits is started again after a backoff
(see devstack/restarts.py); only a stop request, or a child that keeps crashing, ends the stack."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence

from devstack.restarts import GiveUp, RestartPolicy
from devstack.services import ManagedProcess


def describe_exit(code: int | None) -> str:
    """``exit code 3`` or ``killed by SIGKILL``, for a log line."""
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _say(line: str) -> None:
    print(f"[devstack] {line}", flush=True)


class Supervisor:
    """Watches started children until ``run``'s stop event is set or one crashes too often."""

    def __init__(
        self,
        children: Sequence[ManagedProcess],
        policy: RestartPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = _say,
        start_timeout_s: float = 30.0,
    ) -> None:
        self._children = list(children)
        self._policy = policy or RestartPolicy()
        self._clock = clock
        self._say = say
        self._start_timeout_s = start_timeout_s
        self._crashes: dict[str, list[float]] = {c.name: [] for c in self._children}
        self._due: dict[str, float] = {}  # name -> when to start it again
        self.gave_up: str | None = None

    def run(self, stop: threading.Event, poll_s: float = 0.2) -> int:
        """0 once ``stop`` is set; 1 when a child crashed too often (``gave_up`` says why)."""
        while not stop.wait(poll_s):
            for child in self._children:
                if stop.is_set():
                    break
                if not self._check(child):
                    return 1
        return 0

    def _check(self, child: ManagedProcess) -> bool:
        now = self._clock()
        due = self._due.get(child.name)
        if due is not None:
            if now >= due:
                del self._due[child.name]
                self._restart(child)
            return True
        if child.running():
            return True
        code = child.exit_code
        child.stop()  # reap what it left in its group (gunicorn workers) before the port is reused
        crashes = self._policy.recent([*self._crashes[child.name], now], now)
        self._crashes[child.name] = crashes
        decision = self._policy.decide(crashes, now)
        if isinstance(decision, GiveUp):
            self.gave_up = f"{child.name} {decision.reason} (last: {describe_exit(code)})"
            self._say(f"{self.gave_up}; stopping the stack")
            return False
        self._say(
            f"{child.name} stopped ({describe_exit(code)}); restarting in {decision.delay_s:.1f}s"
            f" (crash {decision.crash_count} of {self._policy.max_crashes}"
            f" allowed within {self._policy.window_s:g}s)"
        )
        self._due[child.name] = now + decision.delay_s
        return True

    def _restart(self, child: ManagedProcess) -> None:
        try:
            child.start(self._start_timeout_s)
        except (RuntimeError, TimeoutError, OSError) as exc:
            # Counted as a crash at the next check, once it is stopped.
            self._say(f"{child.name} did not come back: {exc}")
            child.stop()
            return
        self._say(f"{child.name} restarted (pid {child.pid})")
