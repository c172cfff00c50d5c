"""An asyncio service run on its own event loop in a daemon thread, for tests and the local
stack: ``start()`` returns once the service says it is ready, ``stop()`` ends it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger("devstack.background")


class ThreadedService:
    """Runs ``service(stop)`` in a thread; the service sets ``ready`` once it is usable."""

    def __init__(
        self,
        name: str,
        service: Callable[[asyncio.Event], Awaitable[None]],
        ready: threading.Event,
    ) -> None:
        self.name = name
        self.ready = ready
        self._service = service
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self, ready_timeout_s: float | None = 30.0) -> ThreadedService:
        """Start, and wait up to ``ready_timeout_s`` until it is ready (``None``: don't wait)."""
        self._loop = asyncio.new_event_loop()
        self._thread.start()
        if ready_timeout_s is None:
            return self
        if not self.ready.wait(ready_timeout_s):
            self.stop()
            raise TimeoutError(f"{self.name} was not ready within {ready_timeout_s}s")
        if self._error is not None:
            self.stop()  # raises it
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the service to stop and wait for it; raise if it had died of an error."""
        if self._loop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("%s did not stop within %ss", self.name, timeout_s)
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed") from self._error

    def __enter__(self) -> ThreadedService:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _main(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            with asyncio.Runner(loop_factory=lambda: loop) as runner:
                runner.run(self._run())
        except BaseException as exc:
            self._error = exc
            log.exception("%s stopped on an error", self.name)
        finally:
            self.ready.set()  # unblock start() if it is still waiting

    async def _run(self) -> None:
        await self._service(self._stop)
