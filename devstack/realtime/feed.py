"""The stream of committed row changes: LISTEN for ids, fetch the captured rows, in commit order.

Each (re)connection installs the capture triggers, takes the capture lease and listens;
a lost connection (Postgres restarted, say) is retried with backoff. Changes committed while the
gateway is disconnected are not replayed, as on hosted Realtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from devstack.pg_async import (
    Backoff,
    connect_long_lived,
    reconnecting,
    run_beside,
    unless_stopped,
)
from devstack.realtime import queries
from devstack.realtime.broadcasts import Message
from devstack.realtime.capture import install_capture_async
from devstack.realtime.changes import Change

log = logging.getLogger("devstack.realtime")

BATCH_SIZE = 500
Conn = psycopg.AsyncConnection[Any]
# A notification: a captured change's id (int), or a Broadcast message (or, when it was too large
# to ride in the notification, its id).
Notified = int | Message | str


def _change(row: tuple[Any, ...]) -> Change:
    change_id, relid, schema, table, op, record, old_record, commit_timestamp = row
    return Change(change_id, relid, schema, table, op, record, old_record, commit_timestamp)


class ChangeFeed:
    """Calls ``on_batch`` with each batch of committed changes, oldest commit first, and
    ``on_messages`` with the ids of each batch of committed Broadcast messages."""

    def __init__(
        self,
        database_url: str,
        pool: AsyncConnectionPool[Any],
        on_batch: Callable[[list[Change]], Awaitable[None]],
        *,
        retention: timedelta = timedelta(seconds=60),
        housekeeping_every_s: float = 10.0,
        on_listening: Callable[[], None] | None = None,
        on_messages: Callable[[list[Message | str]], Awaitable[None]] | None = None,
    ) -> None:
        self._database_url = database_url
        self._pool = pool
        self._on_batch = on_batch
        self._retention = retention
        self._housekeeping_every_s = housekeeping_every_s
        self._on_listening = on_listening
        self._on_messages = on_messages
        self._lease = uuid.uuid4()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the changes until ``stop`` is set, reconnecting whenever the database goes."""
        try:
            await reconnecting(stop, lambda backoff: self._follow(stop, backoff), log)
        finally:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(self._release_lease(), 2)

    async def _connect(self) -> Conn:
        return await connect_long_lived(self._database_url, "devstack.realtime.listen")

    async def _follow(self, stop: asyncio.Event, backoff: Backoff) -> None:
        async with await self._connect() as listener:
            await install_capture_async(listener)
            await listener.execute(queries.LISTEN)
            await listener.execute(queries.LISTEN_MESSAGES)
            await self._housekeep()
            backoff.reset()
            log.info("following changes to the tables in publication supabase_realtime")
            if self._on_listening is not None:
                self._on_listening()
            ids: asyncio.Queue[Notified] = asyncio.Queue()
            await run_beside(
                self._deliver_until(stop, ids),
                self._listen(listener, ids),
                self._housekeep_forever(),
            )

    async def _deliver_until(self, stop: asyncio.Event, ids: asyncio.Queue[Notified]) -> None:
        while (first := await unless_stopped(ids.get(), stop)) is not None:
            batch = [first]
            while len(batch) < BATCH_SIZE and not ids.empty():
                batch.append(ids.get_nowait())
            # Each kind in commit order; the messages first (they need no query), then the changes.
            messages = [item for item in batch if not isinstance(item, int)]
            changes = [item for item in batch if isinstance(item, int)]
            if messages and self._on_messages is not None:
                try:
                    await self._on_messages(messages)
                except (psycopg.Error, OSError):
                    raise
                except Exception:
                    log.exception("could not deliver %d message(s)", len(messages))
            if changes:
                await self._deliver(changes)

    @staticmethod
    async def _listen(conn: Conn, ids: asyncio.Queue[Notified]) -> None:
        async for notify in conn.notifies():
            if notify.channel == queries.MESSAGES_CHANNEL:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    ids.put_nowait(Message.from_notification(notify.payload))
                continue
            with contextlib.suppress(ValueError):
                ids.put_nowait(int(notify.payload))
        raise psycopg.OperationalError("the notification stream ended")

    async def _deliver(self, ids: list[int]) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(queries.FETCH_CHANGES, {"ids": ids})
            rows = {row[0]: _change(row) for row in await cur.fetchall()}
        changes = [rows[i] for i in ids if i in rows]  # in the order they were notified
        if changes:
            try:
                await self._on_batch(changes)
            except (psycopg.Error, OSError):
                raise
            except Exception:
                log.exception("could not deliver %d change(s)", len(changes))

    async def _housekeep(self) -> None:
        async with self._pool.connection() as conn:
            ttl = timedelta(seconds=max(60.0, self._housekeeping_every_s * 6))
            await conn.execute(queries.HOLD_LEASE, {"id": self._lease, "ttl": ttl})
            await conn.execute(queries.PRUNE_CHANGES, {"age": self._retention})
            await conn.execute(queries.PRUNE_LEASES)
            await conn.execute(queries.MESSAGE_PARTITIONS)

    async def _housekeep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._housekeeping_every_s)
            await self._housekeep()

    async def _release_lease(self) -> None:
        async with self._pool.connection(timeout=2) as conn:
            await conn.execute(queries.RELEASE_LEASE, {"id": self._lease})
