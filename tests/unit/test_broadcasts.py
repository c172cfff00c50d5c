"""Broadcast's pure parts: the join options Realtime accepts for replay, and a channel that
holds live messages while its replay is read, then sends each message once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from devstack.realtime import protocol as p
from devstack.realtime.auth import Identity
from devstack.realtime.broadcasts import JoinError, Message, Replay, replay_request
from devstack.realtime.channels import Channel, Registry


@dataclass
class Outbox:
    vsn: p.Vsn = p.Vsn.V2
    frames: list[str] = field(default_factory=list)

    def send_frame(self, frame: str) -> None:
        self.frames.append(frame)

    def ids(self) -> list[tuple[str, bool]]:
        out = []
        for frame in self.frames:
            payload = json.loads(frame)[4]
            out.append((payload["meta"]["id"], payload["meta"].get("replayed", False)))
        return out


def message(n: int, topic: str = "jobs:public", private: bool = True) -> Message:
    return Message(f"m{n}", topic, "job", {"n": n}, private, n)


IDENTITY = Identity("t", "anon", 2**31, {"role": "anon"}, "{}")


@pytest.mark.parametrize(
    ("config", "private", "expected"),
    [
        ({}, True, None),
        ({"broadcast": {"self": False}}, True, None),
        ({"broadcast": {"replay": {"since": 5}}}, True, Replay(5, 25)),
        ({"broadcast": {"replay": {"since": 5, "limit": 100}}}, True, Replay(5, 25)),
        ({"broadcast": {"replay": {"since": 5, "limit": 0}}}, True, Replay(5, 1)),
    ],
)
def test_replay_requests(config: dict[str, Any], private: bool, expected: Replay | None) -> None:
    assert replay_request(config, private) == expected


@pytest.mark.parametrize(
    ("config", "private", "reason"),
    [
        ({"broadcast": {"replay": {"since": 5}}}, False, "not allowed for public channels"),
        ({"broadcast": {"replay": {}}}, True, "not valid"),
        ({"broadcast": {"replay": {"since": "5"}}}, True, "not valid"),
        ({"broadcast": {"replay": {"since": True}}}, True, "not valid"),
        ({"broadcast": {"replay": {"since": -1}}}, True, "not valid"),
        ({"broadcast": {"replay": 3}}, True, "not valid"),
    ],
)
def test_bad_replay_requests_are_refused(
    config: dict[str, Any], private: bool, reason: str
) -> None:
    with pytest.raises(JoinError, match=reason):
        replay_request(config, private)


def test_a_replaying_channel_holds_live_messages_and_sends_each_once() -> None:
    outbox = Outbox()
    channel = Channel(outbox, "realtime:jobs:public", "1", IDENTITY, (), True, [])
    registry = Registry()
    registry.add(channel)
    for m in (message(2), message(3)):  # committed while the replay is read
        for joined in registry.joined(m.topic, m.private):
            joined.send_message(m, m.payload_json())
    assert outbox.frames == []
    channel.go_live([message(1), message(2)])  # the replay also found m2
    message(4).payload_json()
    channel.send_message(message(4), message(4).payload_json())
    assert outbox.ids() == [("m1", True), ("m2", True), ("m3", False), ("m4", False)]


def test_messages_go_only_to_their_topic_with_the_same_private_flag() -> None:
    registry = Registry()
    private, public = Outbox(), Outbox()
    registry.add(Channel(private, "realtime:jobs:public", "1", IDENTITY, (), True))
    registry.add(Channel(public, "realtime:jobs:public", "1", IDENTITY, (), False))
    for m in (message(1, private=True), message(2, private=False), message(3, "jobs:other")):
        for joined in registry.joined(m.topic, m.private):
            joined.send_message(m, m.payload_json())
    assert private.ids() == [("m1", False)] and public.ids() == [("m2", False)]
    frame = json.loads(private.frames[0])
    assert frame[:4] == ["1", None, "realtime:jobs:public", "broadcast"]
    assert frame[4] == {
        "type": "broadcast",
        "event": "job",
        "payload": {"n": 1},
        "meta": {"id": "m1"},
    }
