"""One client connection's side of the protocol: heartbeats, joins, leaves and token updates.

It answers through the connection's outbox and keeps the registry current; changes themselves
are routed by the dispatcher.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from devstack.realtime import protocol as p
from devstack.realtime.auth import AuthError, Identity, Verifier
from devstack.realtime.bindings import (
    WILDCARD,
    Binding,
    BindingError,
    binding_id,
    describe,
    parse_binding,
)
from devstack.realtime.broadcasts import JoinError, Message, Replay, is_private, replay_request
from devstack.realtime.changes import TableInfo
from devstack.realtime.channels import TOPIC_PREFIX, Channel, Outbox, Registry

log = logging.getLogger("devstack.realtime")


class TableLookup(Protocol):
    async def by_name(self, schema: str, name: str) -> TableInfo | None: ...


class TopicAccess(Protocol):
    """Broadcast's database side (devstack.realtime.topics.Topics)."""

    async def authorize(self, identity: Identity, topic: str) -> None: ...

    async def replay(self, topic: str, replay: Replay) -> list[Message]: ...


def _token(payload: dict[str, Any]) -> str | None:
    token = payload.get("access_token") or payload.get("user_token")
    # Opaque sb_ API keys are not JWTs: Realtime falls back to the connection's key for them.
    if not isinstance(token, str) or token.startswith("sb_"):
        return None
    return token


async def _check_binding(binding: Binding, tables: TableLookup) -> str | None:
    """What is wrong with subscribing to ``binding``, if anything."""
    if WILDCARD in (binding.schema, binding.table):
        return None
    table = await tables.by_name(binding.schema, binding.table)
    if table is None:
        return f"the table {binding.schema}.{binding.table} does not exist"
    unknown = sorted(binding.columns() - {c.name for c in table.columns})
    if unknown:
        return f"{binding.schema}.{binding.table} has no column {', '.join(unknown)}"
    return None


@dataclass
class Session:
    outbox: Outbox
    identity: Identity
    verifier: Verifier
    registry: Registry
    tables: TableLookup
    peer: str
    channels: dict[str, Channel] = field(default_factory=dict)
    topics: TopicAccess | None = None

    def send(self, message: p.Message) -> None:
        self.outbox.send_frame(p.encode(message, self.outbox.vsn))

    async def handle(self, message: p.Message) -> None:
        """Act on one message from the client."""
        if message.topic == p.PHOENIX_TOPIC:
            if message.event == p.HEARTBEAT:
                self.send(p.reply(message, "ok"))
            return
        if message.event == p.JOIN:
            await self._join(message)
            return
        channel = self.channels.get(message.topic)
        if channel is None:
            self.send(p.reply(message, "error", {"reason": "unmatched topic"}))
        elif message.event == p.LEAVE:
            self._drop(channel, "left")
            self.send(p.reply(message, "ok"))
            self.send(p.close(channel.topic, channel.join_ref))
        elif message.event == p.ACCESS_TOKEN:
            await self._refresh_token(channel, message.payload)
        elif message.event in (p.BROADCAST, p.PRESENCE) and message.ref is not None:
            reason = f"{message.event} is not supported by the local Realtime gateway"
            self.send(p.reply(message, "error", {"reason": reason}))

    async def _join(self, message: p.Message) -> None:
        topic, payload = message.topic, message.payload
        join_ref = message.join_ref or message.ref
        if not topic.startswith(TOPIC_PREFIX) or topic == TOPIC_PREFIX:
            reason = "TopicNameRequired: You must provide a topic name"
            self.send(p.reply(message, "error", {"reason": reason}))
            return
        previous = self.channels.get(topic)
        if previous is not None:  # a rejoin replaces the channel silently, as in Phoenix
            self._drop(previous, "joined again")
        token = _token(payload)
        try:
            identity = self.identity if token is None else self.verifier.verify(token)
        except AuthError as exc:
            log.info("join %s refused for %s: %s", topic, self.peer, exc.reason)
            self.send(p.reply(message, "error", {"reason": exc.reason}))
            return
        config = payload.get("config")
        config = config if isinstance(config, dict) else {}
        private = is_private(config)
        try:
            replay = replay_request(config, private)
            if private:
                await self._authorize(identity, topic.removeprefix(TOPIC_PREFIX))
        except JoinError as exc:
            log.info("join %s refused for %s: %s", topic, self.peer, exc)
            self.send(p.reply(message, "error", {"reason": str(exc)}))
            return
        raw_bindings = config.get("postgres_changes") or []
        if not isinstance(raw_bindings, list):
            raw_bindings = []
        entries = [{**raw, "id": binding_id(raw)} for raw in raw_bindings if isinstance(raw, dict)]
        bindings, problem = await self._bindings(raw_bindings)

        channel = Channel(
            self.outbox, topic, join_ref, identity, bindings, private, [] if replay else None
        )
        replayed: list[Message] = []
        if replay is not None:
            # Registered before the replay is read: what commits meanwhile is held, then sent
            # after the replay unless the replay carried it (no gap, no duplicate).
            self.registry.add(channel)
            try:
                replayed = await self._replayed(channel, replay)
            except JoinError as exc:
                self.registry.remove(channel)
                log.info("join %s refused for %s: %s", topic, self.peer, exc)
                self.send(p.reply(message, "error", {"reason": str(exc)}))
                return
        self.channels[topic] = channel
        reply = p.reply(message, "ok", {"postgres_changes": entries})
        self.send(p.Message(reply.topic, reply.event, reply.payload, reply.ref, join_ref))
        self.registry.add(channel)
        if replay is not None:
            channel.go_live(replayed)
        presence = config.get("presence")
        if isinstance(presence, dict) and presence.get("enabled"):
            self.send(p.Message(topic, p.PRESENCE_STATE, {}, None, join_ref))
        if raw_bindings:
            if problem is None:
                text, status = "Subscribed to PostgreSQL", "ok"
            else:
                text = f"Unable to subscribe to changes with given parameters: {problem}"
                status = "error"
            self.send(p.system(topic, join_ref, p.POSTGRES_CHANGES, status, text))
        watched = ", ".join(describe(b) for b in bindings)
        log.info(
            "join %s%s by %s as %s%s%s",
            topic,
            " (private)" if private else "",
            self.peer,
            identity.role,
            f" watching {watched}" if watched else "",
            f" (refused: {problem})" if problem else "",
        )

    async def _bindings(self, raw_bindings: list[Any]) -> tuple[tuple[Binding, ...], str | None]:
        """The bindings to subscribe, or none and the reason (one bad binding spoils the join)."""
        bindings: list[Binding] = []
        try:
            for raw in raw_bindings:
                binding = parse_binding(raw)
                problem = await _check_binding(binding, self.tables)
                if problem is not None:
                    return (), problem
                bindings.append(binding)
        except BindingError as exc:
            return (), str(exc)
        except (psycopg.Error, OSError):
            return (), "Realtime was unable to connect to the project database"
        return tuple(bindings), None

    async def _authorize(self, identity: Identity, subtopic: str) -> None:
        if self.topics is None:
            raise JoinError("private channels need the gateway's database")
        await self.topics.authorize(identity, subtopic)

    async def _replayed(self, channel: Channel, replay: Replay) -> list[Message]:
        assert self.topics is not None
        return await self.topics.replay(channel.subtopic, replay)

    async def _refresh_token(self, channel: Channel, payload: dict[str, Any]) -> None:
        token = _token(payload)
        if token is None or token == channel.identity.token:
            return
        try:
            identity = self.verifier.verify(token)
        except AuthError as exc:
            self._shut(channel, exc.message)
            return
        if channel.private:
            # As Realtime does: the policies are asked again, and a channel the new token may
            # no longer read is shut.
            try:
                await self._authorize(identity, channel.subtopic)
            except JoinError as exc:
                if self.channels.get(channel.topic) is channel:
                    self._shut(channel, str(exc))
                return
        if identity.role != channel.identity.role:
            log.info("%s on %s is now %s", self.peer, channel.topic, identity.role)
        channel.identity = identity

    def _shut(self, channel: Channel, reason: str) -> None:
        """End a channel from the server side, telling the client why (Realtime's shutdown)."""
        self._drop(channel, reason)
        self.send(p.system(channel.topic, channel.join_ref, "system", "error", reason))
        self.send(p.close(channel.topic, channel.join_ref))

    def _drop(self, channel: Channel, why: str) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]
        self.registry.remove(channel)
        log.info("leave %s by %s (%s)", channel.topic, self.peer, why)

    def expire_tokens(self, now: float | None = None) -> None:
        """Shut the channels whose token has expired."""
        current = time.time() if now is None else now
        for channel in list(self.channels.values()):
            if channel.identity.expired(current):
                self._shut(channel, "Token has expired")

    def end(self) -> None:
        """The connection is gone: forget its channels."""
        for channel in list(self.channels.values()):
            self._drop(channel, "disconnected")
