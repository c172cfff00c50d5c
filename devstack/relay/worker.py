"""The local stand-in for pg_net's background worker.

On a plain Postgres, ``net.http_post`` (devstack/postgres/sql/pg_net_shim.sql) queues a request and
notifies ``net_http_request``; both become visible only when the transaction commits. The relay
listens for that, claims up to 200 requests at a time, sends them concurrently, and records each
outcome in ``net._http_response`` for 6 hours. Like pg_net it never retries: a request that fails
is recorded and dropped, and the project's sweeper covers lost wake-ups.

By default it also keeps pg_net's pace (its ``src/worker.c``): after every pass it waits up to a
second, cut short only by the first commit since the worker last woke, so a long burst goes out
at about 200 requests a second and local figures predict a hosted project's. ``--no-pacing`` (or
``RELAY_PACING=off``) sends as fast as it can, for quick local work; the in-process relay the
tests start does not pace unless asked.

    python -m devstack.relay [--database-url URL] [--no-pacing]   (devstack/relay/__main__.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from devstack.background import ThreadedService
from devstack.pg_async import (
    Backoff,
    connect_long_lived,
    reconnecting,
    run_beside,
    unless_stopped,
)
from devstack.relay import queries
from devstack.relay.senders import HttpRequest, Outcome, Senders

log = logging.getLogger("devstack.relay")

BATCH_SIZE = 200
# Requests of a batch in flight at once (see senders.Senders).
CONCURRENCY = 32
RESPONSE_TTL = timedelta(hours=6)
EXPIRE_EVERY_S = 60.0
PAUSE_AFTER_PASS_S = 1.0  # pg_net: WaitLatch(..., 1000) after each pass of its worker

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


class Wake:
    """pg_net's wake-up protocol: a commit raises the flag and sets the latch only if the flag
    was down, and the worker lowers the flag when it starts a round of passes. So the first
    commit after that cuts a pause short; later ones in the same round do not."""

    def __init__(self) -> None:
        self.pending = True  # first, drain what was queued before we listened
        self.latch = asyncio.Event()
        self.latch.set()

    def commit(self) -> None:
        if not self.pending:
            self.pending = True
            self.latch.set()

    def take(self) -> bool:
        """Lower the flag; whether it was up."""
        was, self.pending = self.pending, False
        return was


class Relay:
    """Delivers the requests queued by the ``net`` shim, as pg_net's worker does."""

    def __init__(
        self,
        database_url: str,
        *,
        batch_size: int = BATCH_SIZE,
        concurrency: int = CONCURRENCY,
        pace: bool = True,
        pause_s: float = PAUSE_AFTER_PASS_S,
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        self._database_url = database_url
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._pause_s = pause_s if pace else 0.0
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
            wake = Wake()
            deliver = self._deliver_paced if self._pause_s else self._deliver_unpaced
            await run_beside(deliver(stop, wake, conn, senders), self._listen(listener, wake))

    async def _deliver_unpaced(
        self, stop: asyncio.Event, wake: Wake, conn: Conn, senders: Senders
    ) -> None:
        while await unless_stopped(wake.latch.wait(), stop):
            wake.latch.clear()
            wake.take()
            while not stop.is_set() and await self._pass(conn, senders) == self._batch_size:
                pass

    async def _deliver_paced(
        self, stop: asyncio.Event, wake: Wake, conn: Conn, senders: Senders
    ) -> None:
        while not stop.is_set():
            if not wake.take():
                log.debug("waiting for a wake")
                if not await unless_stopped(wake.latch.wait(), stop):
                    return
                wake.latch.clear()
                continue
            # A round of passes, each followed by a pause, until one finds nothing to send.
            while True:
                sent = await self._pass(conn, senders)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(unless_stopped(wake.latch.wait(), stop), self._pause_s)
                wake.latch.clear()
                if stop.is_set() or not sent:
                    break

    @staticmethod
    async def _listen(conn: Conn, wake: Wake) -> None:
        async for _ in conn.notifies():
            wake.commit()
        raise psycopg.OperationalError("the notification stream ended")

    async def _pass(self, conn: Conn, senders: Senders) -> int:
        """Claim up to a batch, send it, record the outcomes; how many were sent."""
        async with conn.cursor(row_factory=class_row(HttpRequest)) as cur:
            await cur.execute(queries.CLAIM, {"limit": self._batch_size})
            requests = sorted(await cur.fetchall(), key=lambda request: request.id)
        if requests:
            log.debug("claimed %d request(s)", len(requests))
            outcomes = await senders.deliver_all(requests)
            async with conn.cursor() as cur:
                await cur.executemany(queries.RECORD, [_response_row(o) for o in outcomes])
            for outcome in outcomes:
                log.info("%s", outcome.describe())
        if time.monotonic() - self._last_expired >= EXPIRE_EVERY_S:
            await conn.execute(queries.EXPIRE, {"ttl": RESPONSE_TTL})
            self._last_expired = time.monotonic()
        return len(requests)


def start_in_thread(
    database_url: str,
    *,
    ready_timeout_s: float | None = 30.0,
    pace: bool = False,
    pause_s: float = PAUSE_AFTER_PASS_S,
) -> ThreadedService:
    """A relay running in a background thread, listening once this returns; ``.stop()`` ends it.
    Unpaced unless ``pace``: the tests wait on deliveries, not on pg_net's pauses."""
    ready = threading.Event()
    relay = Relay(database_url, pace=pace, pause_s=pause_s, on_listening=ready.set)
    return ThreadedService("devstack.relay", relay.run, ready).start(ready_timeout_s)
