"""Joined channels, indexed by the tables they watch, and which of them a change goes to.
Pure: a channel's outbox is whatever the server gives it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from devstack.realtime.auth import Identity
from devstack.realtime.bindings import WILDCARD, Binding
from devstack.realtime.broadcasts import Message
from devstack.realtime.changes import Change, TableInfo, filter_row
from devstack.realtime.protocol import BROADCAST, POSTGRES_CHANGES, Vsn, frame_parts

TOPIC_PREFIX = "realtime:"

Select = tuple[str, ...] | None  # a binding's column list; None: every column


class Outbox(Protocol):
    """Where a channel's frames go (one client connection)."""

    vsn: Vsn

    def send_frame(self, frame: str) -> None: ...


@dataclass(eq=False)
class Channel:
    """One joined topic on one connection."""

    outbox: Outbox
    topic: str
    join_ref: str | None
    identity: Identity
    bindings: tuple[Binding, ...] = ()
    # A private channel gets the private messages of its topic, a public one the public ones.
    private: bool = False
    # While a join's replay is read, live messages wait here (then go out after it, minus any
    # the replay already carried); None once the channel is live.
    held: list[Message] | None = None
    replayed: frozenset[str] = frozenset()

    @property
    def subtopic(self) -> str:
        """The topic as ``realtime.send`` names it (without ``realtime:``)."""
        return self.topic.removeprefix(TOPIC_PREFIX)

    @cached_property
    def change_frame(self) -> tuple[str, str]:
        """The head and tail around a change's payload in this channel's frames: its topic and
        refs never change, so a fan-out does not serialize them again for every change."""
        return frame_parts(self.outbox.vsn, self.topic, POSTGRES_CHANGES, None, self.join_ref)

    @cached_property
    def broadcast_frame(self) -> tuple[str, str]:
        return frame_parts(self.outbox.vsn, self.topic, BROADCAST, None, self.join_ref)

    def send_message(self, message: Message, payload_json: str) -> None:
        """Deliver a live message now, or after the replay under way."""
        if self.held is not None:
            self.held.append(message)
        elif message.id not in self.replayed:
            head, tail = self.broadcast_frame
            self.outbox.send_frame(head + payload_json + tail)

    def go_live(self, replayed: list[Message]) -> None:
        """Send the replayed messages, then what arrived meanwhile that they did not carry."""
        head, tail = self.broadcast_frame
        for message in replayed:
            self.outbox.send_frame(head + message.payload_json(replayed=True) + tail)
        self.replayed = frozenset(m.id for m in replayed)
        held, self.held = self.held or [], None
        for message in held:
            self.send_message(message, message.payload_json())


@dataclass(frozen=True)
class Route:
    """A change going to one channel: the ids of the bindings it matched, and the columns."""

    channel: Channel
    ids: tuple[int, ...]
    select: Select


@dataclass
class Registry:
    """Every channel with postgres_changes bindings, by the ``(schema, table)`` they watch."""

    _by_table: defaultdict[tuple[str, str], set[Channel]] = field(
        default_factory=lambda: defaultdict(set)
    )
    _channels: set[Channel] = field(default_factory=set)
    _by_topic: defaultdict[tuple[str, bool], set[Channel]] = field(
        default_factory=lambda: defaultdict(set)
    )

    def add(self, channel: Channel) -> None:
        self._channels.add(channel)
        self._by_topic[(channel.subtopic, channel.private)].add(channel)
        for binding in channel.bindings:
            self._by_table[(binding.schema, binding.table)].add(channel)

    def remove(self, channel: Channel) -> None:
        self._channels.discard(channel)
        joined = self._by_topic.get((channel.subtopic, channel.private))
        if joined is not None:
            joined.discard(channel)
            if not joined:
                del self._by_topic[(channel.subtopic, channel.private)]
        for binding in channel.bindings:
            key = (binding.schema, binding.table)
            watchers = self._by_table.get(key)
            if watchers is not None:
                watchers.discard(channel)
                if not watchers:
                    del self._by_table[key]

    def __len__(self) -> int:
        return len(self._channels)

    def has(self, channel: Channel) -> bool:
        return channel in self._channels

    def channels(self) -> list[Channel]:
        return list(self._channels)

    def joined(self, subtopic: str, private: bool) -> list[Channel]:
        """The channels a message of ``subtopic`` goes to."""
        return list(self._by_topic.get((subtopic, private), ()))

    def watching(self, schema: str, table: str) -> set[Channel]:
        found: set[Channel] = set()
        for key in ((schema, table), (schema, WILDCARD), (WILDCARD, table), (WILDCARD, WILDCARD)):
            found |= self._by_table.get(key, set())
        return found

    def route(self, change: Change, table: TableInfo) -> list[Route]:
        """Where ``change`` goes, before row-level security is asked."""
        row = filter_row(change, table)
        types = table.column_types
        # Many channels carry the same bindings (every client of one app does): each distinct
        # set is matched once per change, not once per channel.
        matched: dict[tuple[Binding, ...], list[tuple[tuple[int, ...], Select]]] = {}
        routes: list[Route] = []
        for channel in self.watching(change.schema, change.table):
            groups = matched.get(channel.bindings)
            if groups is None:
                groups = matched[channel.bindings] = _group_by_select(
                    b
                    for b in channel.bindings
                    if b.covers(change.schema, change.table, change.type) and b.admits(row, types)
                )
            routes.extend(Route(channel, ids, select) for ids, select in groups)
        return routes


def _group_by_select(matched: Iterable[Binding]) -> list[tuple[tuple[int, ...], Select]]:
    """``(ids, select)`` per distinct column list, each with its bindings' ids once, in order."""
    groups: dict[Select, list[int]] = {}
    for binding in matched:
        ids = groups.setdefault(binding.select, [])
        if binding.id not in ids:
            ids.append(binding.id)
    return [(tuple(ids), select) for select, ids in groups.items()]
