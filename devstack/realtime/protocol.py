"""Phoenix channel messages and the two serializers Supabase's clients speak.

``vsn=1.0.0`` (the Python client, and the default) sends each message as a JSON object;
``vsn=2.0.0`` (realtime-js) as a JSON array ``[join_ref, ref, topic, event, payload]``, plus
binary frames that only carry user broadcasts. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

PHOENIX_TOPIC = "phoenix"
HEARTBEAT = "heartbeat"
JOIN = "phx_join"
LEAVE = "phx_leave"
REPLY = "phx_reply"
CLOSE = "phx_close"
ERROR = "phx_error"
ACCESS_TOKEN = "access_token"  # noqa: S105 (an event name)
SYSTEM = "system"
POSTGRES_CHANGES = "postgres_changes"
PRESENCE_STATE = "presence_state"
BROADCAST = "broadcast"
PRESENCE = "presence"

# realtime-js's binary frame kind for a broadcast pushed by the client.
_USER_BROADCAST_PUSH = 3


class Vsn(Enum):
    V1 = "1.0.0"
    V2 = "2.0.0"

    @classmethod
    def parse(cls, value: str | None) -> Vsn:
        """The serializer a ``vsn`` query parameter asks for; absent means 1.0.0."""
        if value is None or value == "":
            return cls.V1
        for vsn in cls:
            if vsn.value == value:
                return vsn
        raise ProtocolError(f"unsupported vsn {value!r}; expected 1.0.0 or 2.0.0")


class ProtocolError(ValueError):
    """A frame that is not a Phoenix message."""


@dataclass(frozen=True)
class Message:
    topic: str
    event: str
    payload: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    join_ref: str | None = None


def _ref(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError(f"a ref must be a string, not {type(value).__name__}")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string")
    return value


def decode(frame: str, vsn: Vsn) -> Message:
    """Parse one text frame."""
    try:
        raw = json.loads(frame)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if vsn is Vsn.V2:
        if not isinstance(raw, list) or len(raw) != 5:
            raise ProtocolError("a 2.0.0 message is [join_ref, ref, topic, event, payload]")
        join_ref, ref, topic, event, payload = raw
    else:
        if not isinstance(raw, dict):
            raise ProtocolError("a 1.0.0 message is a JSON object")
        join_ref, ref = raw.get("join_ref"), raw.get("ref")
        topic, event, payload = raw.get("topic"), raw.get("event"), raw.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError("payload must be a JSON object")
    return Message(
        topic=_text(topic, "topic"),
        event=_text(event, "event"),
        payload=payload,
        ref=_ref(ref),
        join_ref=_ref(join_ref),
    )


def decode_binary(frame: bytes) -> Message:
    """The routing part of realtime-js's binary broadcast push (the payload is not decoded)."""
    if len(frame) < 7 or frame[0] != _USER_BROADCAST_PUSH:
        raise ProtocolError("unknown binary frame")
    join_ref_len, ref_len, topic_len, event_len, meta_len = frame[1:6]
    offset = 7
    parts: list[str] = []
    for length in (join_ref_len, ref_len, topic_len, event_len, meta_len):
        chunk = frame[offset : offset + length]
        if len(chunk) != length:
            raise ProtocolError("truncated binary frame")
        parts.append(chunk.decode("utf-8", "replace"))
        offset += length
    join_ref, ref, topic, user_event, _meta = parts
    return Message(
        topic=topic,
        event=BROADCAST,
        payload={"type": BROADCAST, "event": user_event},
        ref=ref or None,
        join_ref=join_ref or None,
    )


def frame_parts(
    vsn: Vsn, topic: str, event: str, ref: str | None = None, join_ref: str | None = None
) -> tuple[str, str]:
    """What goes before and after the serialized payload in a frame: a frame is
    ``head + payload_json + tail``, so a fan-out serializes the envelope once per channel."""
    if vsn is Vsn.V2:
        head = json.dumps([join_ref, ref, topic, event])
        return f"{head[:-1]},", "]"
    fields = json.dumps({"topic": topic, "event": event, "ref": ref, "join_ref": join_ref})
    return f'{fields[:-1]},"payload":', "}"


def encode_raw(
    vsn: Vsn,
    topic: str,
    event: str,
    payload_json: str,
    ref: str | None = None,
    join_ref: str | None = None,
) -> str:
    """A frame around an already serialized payload (so a change is serialized once)."""
    head, tail = frame_parts(vsn, topic, event, ref, join_ref)
    return f"{head}{payload_json}{tail}"


def encode(message: Message, vsn: Vsn) -> str:
    """Serialize one message for a client speaking ``vsn``."""
    return encode_raw(
        vsn,
        message.topic,
        message.event,
        dumps(message.payload),
        message.ref,
        message.join_ref,
    )


def dumps(value: object) -> str:
    """Compact JSON, as the clients receive it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def reply(request: Message, status: str, response: dict[str, Any] | None = None) -> Message:
    """The ``phx_reply`` to ``request``, echoing its refs."""
    return Message(
        topic=request.topic,
        event=REPLY,
        payload={"status": status, "response": response or {}},
        ref=request.ref,
        join_ref=request.join_ref,
    )


def system(topic: str, join_ref: str | None, extension: str, status: str, text: str) -> Message:
    """A ``system`` message as Supabase Realtime sends it (``channel`` is the topic's name)."""
    return Message(
        topic=topic,
        event=SYSTEM,
        payload={
            "extension": extension,
            "status": status,
            "message": text,
            "channel": topic.removeprefix("realtime:"),
        },
        join_ref=join_ref,
    )


def close(topic: str, join_ref: str | None) -> Message:
    """``phx_close``: Phoenix sends it with the join's ref in both ref fields."""
    return Message(topic=topic, event=CLOSE, payload={}, ref=join_ref, join_ref=join_ref)
