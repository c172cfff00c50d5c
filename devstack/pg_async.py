"""Long-lived async database connections for the local stand-ins (relay, Realtime gateway):
how they connect, how they come back after the database goes away, and how the tasks that
share a connection run and end together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")


async def connect_long_lived(database_url: str, application_name: str) -> psycopg.AsyncConnection:
    """An autocommit connection whose TCP keepalives notice a database host that vanished
    without closing the connection (a LISTEN socket otherwise waits forever)."""
    return await psycopg.AsyncConnection.connect(
        database_url,
        autocommit=True,
        application_name=application_name,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )


@dataclass
class Backoff:
    """Delays between reconnection attempts, doubling from ``first_s`` up to ``max_s``."""

    first_s: float = 0.1
    max_s: float = 5.0
    _next_s: float = field(default=0.0, init=False)

    def next(self) -> float:
        delay = self._next_s or self.first_s
        self._next_s = min(delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self._next_s = 0.0


async def reconnecting(
    stop: asyncio.Event, serve: Callable[[Backoff], Awaitable[None]], log: logging.Logger
) -> None:
    """Run ``serve`` until ``stop`` is set, starting it again (after a growing pause) whenever
    the database connection fails; ``serve`` resets the backoff once it is connected."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            await serve(backoff)
        except (psycopg.Error, OSError) as exc:
            delay = backoff.next()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            log.warning("database unavailable (%s); reconnecting in %.1fs", reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def run_beside(main: Awaitable[T], *helpers: Awaitable[object]) -> T:
    """Await ``main`` while ``helpers`` run beside it; ``main``'s result.

    Whatever way ``main`` ends, the helpers still running are cancelled and awaited. A helper
    that raises cancels ``main`` and the others, and its error is raised here (so a broken
    connection reaches ``reconnecting``); one that returns has simply finished its part.
    """
    main_task = asyncio.ensure_future(main)
    pending: set[asyncio.Future[Any]] = {main_task, *map(asyncio.ensure_future, helpers)}
    try:
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not main_task:
                    task.result()  # a helper's error ends everything
            if main_task in done:
                return main_task.result()
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``awaitable``'s result, or None as soon as ``stop`` is set (it is then cancelled)."""
    work = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, stopping):
            task.cancel()
        await asyncio.gather(work, stopping, return_exceptions=True)
    return None if work.cancelled() else work.result()
