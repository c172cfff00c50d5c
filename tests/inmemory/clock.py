"""A Clock that tests move by hand: time passes only when a test says so."""

from __future__ import annotations

import threading
import time

# How often a FakeClock's waiter looks at its event (threading.Event cannot notify a
# condition), and how long in real time it waits for an event or an advance before it
# declares the test stuck.
_POLL_S = 0.002
_STUCK_AFTER_S = 30.0


class FakeClock:
    """A Clock whose time moves only by ``advance``: a task that "takes" ten seconds calls
    ``clock.advance(10)``. A wait returns when its event is set or enough time has been
    advanced; nothing else moves time, so a test decides exactly when a limit passes."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._changed = threading.Condition()
        self._waits: list[float] = []  # the fake time each current waiter waits until

    def monotonic(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        stuck_at = time.monotonic() + _STUCK_AFTER_S
        with self._changed:
            until = self._now + max(0.0, timeout)
            self._waits.append(until)
            self._changed.notify_all()
            try:
                while not event.is_set() and self._now < until:
                    if time.monotonic() > stuck_at:
                        raise AssertionError("FakeClock: nothing set the event or advanced time")
                    self._changed.wait(_POLL_S)
            finally:
                self._waits.remove(until)
        return event.is_set()

    def wait_for_waiter(self, until: float, timeout: float = 10.0) -> None:
        """Block, for up to ``timeout`` real seconds, until a thread waits until ``until``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(abs(u - until) < 1e-9 for u in self._waits), timeout
            )
        if not found:
            raise AssertionError(f"FakeClock: no thread waits until {until}; waits: {self._waits}")
