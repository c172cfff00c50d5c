"""Fan-out: each batch of changes to the channels whose bindings match and whose identity may
see the row. Row-level security is asked once per (identity, change) and each change is
serialized once (see frames.py), however many channels share them."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from devstack.realtime.auth import Identity
from devstack.realtime.broadcasts import Message
from devstack.realtime.catalog import Catalog
from devstack.realtime.changes import Change, TableInfo
from devstack.realtime.channels import Registry, Route
from devstack.realtime.frames import ChangeFrames
from devstack.realtime.visibility import visible_changes

IdentityKey = tuple[str, str]


class Dispatcher:
    def __init__(
        self, registry: Registry, catalog: Catalog, pool: AsyncConnectionPool[Any]
    ) -> None:
        self._registry = registry
        self._catalog = catalog
        self._pool = pool

    async def __call__(self, changes: list[Change]) -> None:
        """Deliver a batch, keeping its order on every connection."""
        if not len(self._registry):
            return
        planned: list[tuple[Change, TableInfo, list[tuple[Route, IdentityKey]]]] = []
        wanted: dict[tuple[IdentityKey, int], tuple[Identity, Change, TableInfo]] = {}
        for change in changes:
            table = await self._catalog.for_change(change)
            if table is None:
                continue
            keyed_routes: list[tuple[Route, IdentityKey]] = []
            for route in self._registry.route(change, table):
                # The key as routed: the change is checked for the identity the channel had
                # then; a token refreshed while that check runs applies from the next batch.
                identity = route.channel.identity
                key = identity.key
                wanted.setdefault((key, change.id), (identity, change, table))
                keyed_routes.append((route, key))
            if keyed_routes:
                planned.append((change, table, keyed_routes))
        visible = await visible_changes(self._pool, wanted.values())
        for change, table, keyed_routes in planned:
            frames = ChangeFrames(change, table)
            for route, key in keyed_routes:
                if (key, change.id) in visible and self._registry.has(route.channel):
                    route.channel.outbox.send_frame(frames.for_route(route))

    def deliver_messages(self, messages: list[Message]) -> int:
        """Broadcast from the database: each message to the channels joined to its topic with
        its private flag (authorised at their join, so no per-message check), serialized once.
        Returns the number of frames sent."""
        sent = 0
        for message in messages:
            channels = self._registry.joined(message.topic, message.private)
            if not channels:
                continue
            payload_json = message.payload_json()
            for channel in channels:
                channel.send_message(message, payload_json)
            sent += len(channels)
        return sent
