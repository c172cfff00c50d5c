"""Broadcast's database side: who may join a private topic (asked of the policies on
``realtime.messages`` as Realtime asks them), the messages to replay on a join, and the rows
behind notified message ids."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from devstack.realtime import queries
from devstack.realtime.auth import Identity
from devstack.realtime.broadcasts import JoinError, Message, Replay, unauthorized

log = logging.getLogger("devstack.realtime")


class _Answer(Exception):
    def __init__(self, allowed: bool) -> None:
        super().__init__()
        self.allowed = allowed


class Topics:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def authorize(self, identity: Identity, topic: str) -> None:
        """Raise :class:`JoinError` unless ``identity`` may read ``topic`` as a private channel.

        A probe row of the topic is inserted as the gateway, then looked for under the
        subscriber's role and claims with ``realtime.topic`` set; the transaction is rolled back,
        so nothing is ever sent. A policy that errors refuses the join, as on hosted Realtime.
        """
        sub = identity.claims.get("sub")
        probe = uuid.uuid4()
        try:
            async with self._pool.connection() as conn:
                try:
                    async with conn.transaction():
                        await conn.execute(queries.INSERT_PROBE, {"id": probe, "topic": topic})
                        await conn.execute(
                            queries.BECOME_FOR_TOPIC,
                            {
                                "role": identity.role,
                                "topic": topic,
                                "claims": identity.claims_json,
                                "sub": sub if isinstance(sub, str) else None,
                            },
                        )
                        cur = await conn.execute(queries.PROBE_VISIBLE, {"id": probe})
                        row = await cur.fetchone()
                        raise _Answer(bool(row and row[0]))
                except _Answer as answer:
                    if not answer.allowed:
                        raise JoinError(unauthorized(topic)) from None
        except psycopg.errors.CheckViolation:
            raise JoinError(
                "MissingPartition: Realtime was unable to find the expected messages partition"
            ) from None
        except psycopg.errors.UndefinedTable:
            raise JoinError("UnableToSetPolicies: the database has no realtime.messages") from None
        except (psycopg.errors.InsufficientPrivilege, psycopg.DataError) as exc:
            log.info("a policy on realtime.messages failed for %s: %s", topic, exc)
            raise JoinError(unauthorized(topic)) from None
        except (psycopg.OperationalError, OSError):
            raise JoinError("Realtime was unable to connect to the project database") from None

    async def replay(self, topic: str, replay: Replay) -> list[Message]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    queries.REPLAY_MESSAGES,
                    {"topic": topic, "since": replay.since_ms, "limit": replay.limit},
                )
                return [Message.from_row(row) for row in await cur.fetchall()]
        except (psycopg.Error, OSError):
            log.exception("could not replay %s", topic)
            reason = "UnableToReplayMessages: Realtime was unable to replay messages"
            raise JoinError(reason) from None

    async def fetch(self, ids: list[str]) -> list[Message]:
        """The messages behind ``ids``, in the order given."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(queries.FETCH_MESSAGES, {"ids": ids})
            rows = {m.id: m for m in map(Message.from_row, await cur.fetchall())}
        return [rows[i] for i in ids if i in rows]
