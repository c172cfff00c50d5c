"""Fan-out: each batch of changes to the channels whose bindings match and whose identity may
see the row, serialized once per change (and column list)."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from devstack.realtime.catalog import Catalog
from devstack.realtime.changes import Change, TableInfo, payload_data
from devstack.realtime.channels import Registry, Route
from devstack.realtime.protocol import POSTGRES_CHANGES, dumps, encode_raw
from devstack.realtime.visibility import visible_changes


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
        planned: list[tuple[Change, TableInfo, list[tuple[Route, tuple[str, str]]]]] = []
        for change in changes:
            table = await self._catalog.for_change(change)
            if table is None:
                continue
            routes = self._registry.route(change, table)
            if routes:
                planned.append((change, table, [(r, r.channel.identity.key) for r in routes]))
        wanted = [
            (route.channel.identity, change, table)
            for change, table, routes in planned
            for route, _ in routes
        ]
        visible = await visible_changes(self._pool, wanted)
        for change, table, keyed_routes in planned:
            data: dict[tuple[str, ...] | None, str] = {}
            for route, key in keyed_routes:
                channel = route.channel
                if (key, change.id) not in visible or not self._registry.has(channel):
                    continue
                if route.select not in data:
                    data[route.select] = dumps(payload_data(change, table, route.select))
                payload = f'{{"ids":{dumps(list(route.ids))},"data":{data[route.select]}}}'
                channel.outbox.send_frame(
                    encode_raw(
                        channel.outbox.vsn,
                        channel.topic,
                        POSTGRES_CHANGES,
                        payload,
                        None,
                        channel.join_ref,
                    )
                )
