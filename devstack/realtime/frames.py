"""One change's ``postgres_changes`` frames, serialized once for the whole fan-out.

Subscribers' frames differ only in the topic, the refs and the binding ids: the change's
``data`` is serialized once per column list, the payload once per (binding ids, column list),
and each frame is the channel's pre-serialized head and tail spliced around it. So a change to
hundreds of subscribers costs a few serializations, not hundreds.
"""

from __future__ import annotations

from devstack.realtime.changes import Change, TableInfo, payload_data
from devstack.realtime.channels import Route, Select
from devstack.realtime.protocol import dumps


class ChangeFrames:
    def __init__(self, change: Change, table: TableInfo) -> None:
        self._change = change
        self._table = table
        self._data: dict[Select, str] = {}
        self._payloads: dict[tuple[tuple[int, ...], Select], str] = {}

    def _payload(self, ids: tuple[int, ...], select: Select) -> str:
        payload = self._payloads.get((ids, select))
        if payload is None:
            data = self._data.get(select)
            if data is None:
                data = dumps(payload_data(self._change, self._table, select))
                self._data[select] = data
            payload = f'{{"ids":{dumps(list(ids))},"data":{data}}}'
            self._payloads[(ids, select)] = payload
        return payload

    def for_route(self, route: Route) -> str:
        """The frame that carries the change along ``route``."""
        head, tail = route.channel.change_frame
        return head + self._payload(route.ids, route.select) + tail
