"""The local stand-in for pg_net's background worker.

On a plain Postgres, ``net.http_post`` (devstack/sql/pg_net_shim.sql) queues a request and
notifies ``net_http_request``; both become visible only when the transaction commits. The relay
listens for that, claims up to 200 requests at a time, sends them concurrently, and records each
outcome in ``net._http_response`` for 6 hours. Like pg_net it never retries: a request that fails
is recorded and dropped, and the project's sweeper covers lost wake-ups.

    python -m devstack.relay [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from devstack import relay_queries as queries
from devstack.background import ThreadedService
from devstack.pg_async import (
    Backoff,
    connect_long_lived,
    reconnecting,
    run_beside,
    unless_stopped,
)
from devstack.relay_http import HttpRequest, Outcome, Senders

log = logging.getLogger("devstack.relay")

BATCH_SIZE = 200
# Requests of a batch in flight at once (see relay_http.Senders).
CONCURRENCY = 32
RESPONSE_TTL = timedelta(hours=6)
EXPIRE_EVERY_S = 60.0

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


def _response_row(outcome: Outcome) -> tuple[object, ...]:
    headers = Jsonb(outcome.headers) if outcome.headers is not None else None
    return (
        outcome.request.id,
        outcome.status_code,
        outcome.content_type,
        headers,
        outcome.content,
        outcome.timed_out,
        outcome.error_msg,
    )


class Relay:
    """Delivers the requests queued by the ``net`` shim, as pg_net's worker does."""

    def __init__(
        self,
        database_url: str,
        *,
        batch_size: int = BATCH_SIZE,
        concurrency: int = CONCURRENCY,
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        self._database_url = database_url
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._on_listening = on_listening
        self._last_expired = float("-inf")

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver requests until ``stop`` is set, reconnecting whenever the database goes away."""
        async with Senders(self._concurrency) as senders:
            await reconnecting(stop, lambda backoff: self._serve(senders, stop, backoff), log)

    async def _connect(self) -> Conn:
        return await connect_long_lived(self._database_url, "devstack.relay")

    async def _serve(self, senders: Senders, stop: asyncio.Event, backoff: Backoff) -> None:
        async with await self._connect() as listener, await self._connect() as conn:
            await listener.execute(queries.LISTEN)
            backoff.reset()
            log.info("listening on %s", queries.CHANNEL)
            if self._on_listening is not None:
                self._on_listening()
            wake = asyncio.Event()
            wake.set()  # drain what was queued before we listened
            await run_beside(
                self._deliver_until(stop, wake, conn, senders), self._listen(listener, wake)
            )

    async def _deliver_until(
        self, stop: asyncio.Event, wake: asyncio.Event, conn: Conn, senders: Senders
    ) -> None:
        while await unless_stopped(wake.wait(), stop):
            wake.clear()
            await self._drain(conn, senders, stop)

    @staticmethod
    async def _listen(conn: Conn, wake: asyncio.Event) -> None:
        async for _ in conn.notifies():
            wake.set()
        raise psycopg.OperationalError("the notification stream ended")

    async def _drain(self, conn: Conn, senders: Senders, stop: asyncio.Event) -> None:
        while not stop.is_set():
            async with conn.cursor(row_factory=class_row(HttpRequest)) as cur:
                await cur.execute(queries.CLAIM, {"limit": self._batch_size})
                requests = sorted(await cur.fetchall(), key=lambda request: request.id)
            if not requests:
                break
            log.debug("claimed %d request(s)", len(requests))
            outcomes = await senders.deliver_all(requests)
            async with conn.cursor() as cur:
                await cur.executemany(queries.RECORD, [_response_row(o) for o in outcomes])
            for outcome in outcomes:
                log.info("%s", outcome.describe())
            if len(requests) < self._batch_size:
                break
        if time.monotonic() - self._last_expired >= EXPIRE_EVERY_S:
            await conn.execute(queries.EXPIRE, {"ttl": RESPONSE_TTL})
            self._last_expired = time.monotonic()


def start_in_thread(database_url: str, *, ready_timeout_s: float | None = 10.0) -> ThreadedService:
    """A relay running in a background thread, listening once this returns; ``.stop()`` ends it."""
    ready = threading.Event()
    relay = Relay(database_url, on_listening=ready.set)
    return ThreadedService("devstack.relay", relay.run, ready).start(ready_timeout_s)


async def _run_until_signalled(relay: Relay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await relay.run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="deliver the HTTP requests queued by net.http_*")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO
    asyncio.run(_run_until_signalled(Relay(args.database_url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
