"""The real clock behind the worker's Clock port (``tests.inmemory`` has one tests drive)."""

from __future__ import annotations

import threading
import time


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))
