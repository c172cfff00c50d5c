"""Long-lived async database connections for the local stand-ins (relay, Realtime gateway):
how they connect, and how they come back after the database goes away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg


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
