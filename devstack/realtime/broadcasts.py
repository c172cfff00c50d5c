"""Broadcast from the database, as Supabase Realtime delivers it: messages that
``realtime.send`` put in ``realtime.messages``, the join options that ask for them (``private``
and ``broadcast.replay``), and the frames they go out in. Pure, no I/O.

A message reaches the channels joined to its topic whose private flag matches the message's;
a private channel was authorised once, at its join, by the policies on ``realtime.messages``.
The payload a client receives is ``{type: "broadcast", event, payload, meta: {id}}`` (replayed
ones carry ``meta.replayed: true``), as realtime-js and realtime-py expect it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from devstack.realtime.protocol import dumps

# supabase/realtime lib/realtime/messages.ex: a replay returns at most this many messages.
REPLAY_HARD_LIMIT = 25
REPLAY_DEFAULT_LIMIT = 25


@dataclass(frozen=True)
class Message:
    id: str
    topic: str
    event: str
    payload: dict[str, Any]
    private: bool
    inserted_ms: int

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Message:
        message_id, topic, event, payload, private, inserted_ms = row
        return cls(
            str(message_id),
            str(topic),
            str(event or ""),
            payload if isinstance(payload, dict) else {},
            bool(private),
            int(inserted_ms),
        )

    @classmethod
    def from_notification(cls, text: str) -> Message | str:
        """A notified message: the message itself, or its id when it was too large to carry."""
        if not text.startswith("{"):
            return text
        raw = json.loads(text)
        return cls(
            str(raw["id"]),
            str(raw["topic"]),
            str(raw.get("event") or ""),
            raw["payload"] if isinstance(raw.get("payload"), dict) else {},
            bool(raw.get("private")),
            int(raw.get("inserted_ms") or 0),
        )

    def payload_json(self, replayed: bool = False) -> str:
        """The frame payload, serialized once for every channel it goes to."""
        meta: dict[str, Any] = {"replayed": True, "id": self.id} if replayed else {"id": self.id}
        return dumps(
            {"type": "broadcast", "event": self.event, "payload": self.payload, "meta": meta}
        )


class JoinError(ValueError):
    """A join Realtime refuses; ``str()`` is the reason as the server words it."""


@dataclass(frozen=True)
class Replay:
    since_ms: int
    limit: int


def is_private(config: dict[str, Any]) -> bool:
    return config.get("private") is True


def replay_request(config: dict[str, Any], private: bool) -> Replay | None:
    """The replay a join's ``config.broadcast.replay`` asks for, if any (Realtime's rules:
    private channels only, ``since`` in milliseconds required, ``limit`` clamped to 1..25)."""
    broadcast = config.get("broadcast")
    if not isinstance(broadcast, dict) or "replay" not in broadcast:
        return None
    if not private:
        raise JoinError("UnableToReplayMessages: Replay is not allowed for public channels")
    raw = broadcast["replay"]
    if not isinstance(raw, dict):
        raise JoinError("UnableToReplayMessages: Replay params are not valid")
    since, limit = raw.get("since"), raw.get("limit")
    if limit is None:
        limit = REPLAY_DEFAULT_LIMIT
    if not (_integer(since) and _integer(limit)) or since < 0:
        raise JoinError("UnableToReplayMessages: Replay params are not valid")
    return Replay(since, max(1, min(limit, REPLAY_HARD_LIMIT)))


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def unauthorized(topic: str) -> str:
    return f"Unauthorized: You do not have permissions to read from this Channel topic: {topic}"
