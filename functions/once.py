"""Values built once per process, that is once per cold start of a function instance.

Every per-process object (a function's handler, the worker, the log setup, the connection pools)
is a ``PerProcess``: built on first use under a lock, then shared by every invocation the
instance serves. A failed build is not remembered, so the next invocation tries again (a secret
store that was briefly unreachable does not poison a warm instance).

Testing: ``reset_all()`` forgets every value built so far (closing those that hold resources),
so the next call rebuilds from the environment as it is then. It is the one reset; entry modules
have none of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_forgetters: list[Callable[[], None]] = []
_forgetters_lock = threading.Lock()


class PerProcess(Generic[T]):
    """``build()`` run at most once per process (until ``reset_all``), on first ``get()``."""

    def __init__(self, build: Callable[[], T], close: Callable[[T], None] | None = None) -> None:
        self._build = build
        self._close = close
        self._box: tuple[T] | None = None
        self._lock = threading.Lock()
        with _forgetters_lock:
            _forgetters.append(self._forget)

    def get(self) -> T:
        box = self._box
        if box is None:
            with self._lock:
                box = self._box
                if box is None:
                    box = self._box = (self._build(),)
        return box[0]

    def _forget(self) -> None:
        with self._lock:
            box, self._box = self._box, None
        if box is not None and self._close is not None:
            self._close(box[0])


def reset_all() -> None:
    """Forget every per-process value, closing those that hold resources (for tests)."""
    with _forgetters_lock:
        forgetters = list(_forgetters)
    # Declared last, forgotten first: a handler goes before the worker or pool it was built on.
    for forget in reversed(forgetters):
        forget()
