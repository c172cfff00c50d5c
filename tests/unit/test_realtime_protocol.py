"""The Realtime gateway's pure parts: serializers, filters, bindings, tokens, payloads, routing
and a session driven through an in-memory outbox. No database, no sockets."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from devstack.auth.keys import ISSUER, generate_jwt_secret, mint_keys, mint_token
from devstack.realtime import protocol as p
from devstack.realtime.auth import AuthError, Verifier
from devstack.realtime.bindings import BindingError, binding_id, parse_binding
from devstack.realtime.changes import Change, Column, TableInfo, payload_data
from devstack.realtime.channels import Channel, Registry
from devstack.realtime.filters import FilterError, matches, parse_filter
from devstack.realtime.frames import ChangeFrames
from devstack.realtime.session import Session

SECRET = "a-test-secret-that-is-long-enough-for-hs256-0123456789"

# --- serializers ---------------------------------------------------------------------------


def test_both_serializers_round_trip() -> None:
    message = p.Message("realtime:a", "phx_join", {"config": {}}, ref="3", join_ref="3")
    v1 = p.encode(message, p.Vsn.V1)
    v2 = p.encode(message, p.Vsn.V2)
    assert json.loads(v1) == {
        "topic": "realtime:a",
        "event": "phx_join",
        "payload": {"config": {}},
        "ref": "3",
        "join_ref": "3",
    }
    assert json.loads(v2) == ["3", "3", "realtime:a", "phx_join", {"config": {}}]
    assert p.decode(v1, p.Vsn.V1) == message
    assert p.decode(v2, p.Vsn.V2) == message


def test_encode_raw_keeps_null_refs_and_splices_the_payload() -> None:
    frame = p.encode_raw(p.Vsn.V2, "realtime:a", "postgres_changes", '{"ids":[1]}', None, "7")
    assert json.loads(frame) == ["7", None, "realtime:a", "postgres_changes", {"ids": [1]}]
    frame = p.encode_raw(p.Vsn.V1, "realtime:a", "system", '{"x":1}')
    assert json.loads(frame) == {
        "topic": "realtime:a",
        "event": "system",
        "payload": {"x": 1},
        "ref": None,
        "join_ref": None,
    }


@pytest.mark.parametrize(
    ("frame", "vsn"),
    [
        ("not json", p.Vsn.V1),
        ("[1, 2, 3]", p.Vsn.V2),
        ('{"topic": "t", "event": "e", "payload": []}', p.Vsn.V1),
        ('[null, null, 5, "e", {}]', p.Vsn.V2),
        ('{"topic": "t", "event": "e", "ref": {"x": 1}}', p.Vsn.V1),
    ],
)
def test_malformed_frames_are_refused(frame: str, vsn: p.Vsn) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(frame, vsn)


def test_integer_refs_and_missing_payloads_are_accepted() -> None:
    assert p.decode('{"topic": "phoenix", "event": "heartbeat", "ref": 4}', p.Vsn.V1) == (
        p.Message("phoenix", "heartbeat", {}, ref="4")
    )


def test_vsn() -> None:
    assert p.Vsn.parse(None) is p.Vsn.V1
    assert p.Vsn.parse("2.0.0") is p.Vsn.V2
    with pytest.raises(p.ProtocolError):
        p.Vsn.parse("3.0.0")


def test_binary_broadcast_push_is_routed() -> None:
    parts = [b"1", b"2", b"realtime:room", b"wave", b""]
    frame = bytes([3, *(len(x) for x in parts), 1]) + b"".join(parts) + b'{"hi":1}'
    message = p.decode_binary(frame)
    assert (message.topic, message.event, message.ref, message.join_ref) == (
        "realtime:room",
        "broadcast",
        "2",
        "1",
    )
    with pytest.raises(p.ProtocolError):
        p.decode_binary(bytes([4, 0, 0]))


def test_close_carries_the_join_ref_twice() -> None:
    assert p.close("realtime:a", "5") == p.Message("realtime:a", "phx_close", {}, "5", "5")


# --- filters -------------------------------------------------------------------------------

TYPES = {
    "n": "int4",
    "price": "numeric",
    "name": "text",
    "ok": "bool",
    "at": "timestamptz",
    "id": "uuid",
    "doc": "jsonb",
}
ROW: dict[str, Any] = {
    "n": 5,
    "price": 9.5,
    "name": "Bob",
    "ok": True,
    "at": "2024-05-01T12:00:00+00:00",
    "id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
    "doc": {"a": [1, 2]},
    "gone": None,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n=eq.5", True),
        ("n=eq.05", True),
        ("n=neq.5", False),
        ("n=lt.10", True),
        ("n=lte.5", True),
        ("n=gt.5", False),
        ("n=gte.5", True),
        ("n=gt.10", False),
        ("price=gt.9.25", True),
        ("n=eq.five", False),
        ("name=eq.Bob", True),
        ("name=eq.bob", False),
        ("name=lt.Bz", True),
        ("name=in.(Al,Bob)", True),
        ('name=in.("x,y",Bob)', True),
        ("name=in.(Al)", False),
        ("n=in.(1,5,9)", True),
        ("n=not.in.(5)", False),
        ("name=like.B%", True),
        ("name=ilike.b_b", True),
        ("name=like.b%", False),
        ("ok=eq.true", True),
        ("ok=eq.f", False),
        ("ok=is.true", True),
        ("at=gt.2024-05-01T11:59:59Z", True),
        ("at=lt.2024-05-01", False),
        ("at=eq.2024-05-01 14:00:00+02:00", True),
        ("id=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", True),
        ('doc=eq.{"a": [1, 2]}', True),
        ("gone=is.null", True),
        ("gone=eq.1", False),
        ("gone=neq.1", False),
        ("gone=not.eq.1", False),
        ("gone=isdistinct.1", True),
        ("n=isdistinct.5", False),
        ("missing=eq.1", False),
        ("n=gt.1,name=eq.Bob", True),
        ("n=gt.1,name=eq.Al", False),
    ],
)
def test_filters(text: str, expected: bool) -> None:
    assert matches(parse_filter(text), ROW, TYPES) is expected


def test_no_filter_matches_everything() -> None:
    assert parse_filter(None) == () == parse_filter("  ")
    assert matches((), {}, {})


@pytest.mark.parametrize(
    "text", ["n", "n=5", "n=foo.5", "=eq.5", "n=in.5", "n=is.maybe", "n=match.^a"]
)
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


# --- bindings ------------------------------------------------------------------------------


def test_binding_ids_are_stable_non_zero_and_differ() -> None:
    a = {"event": "*", "schema": "public", "table": "t"}
    b = {**a, "filter": "n=eq.1"}
    assert binding_id(a) == binding_id(dict(reversed(list(a.items())))) > 0
    assert binding_id(a) != binding_id(b)
    assert parse_binding(b).reply_entry() == {**b, "id": binding_id(b)}


def test_binding_scope() -> None:
    binding = parse_binding({"event": "insert", "schema": "public", "table": "t"})
    assert binding.covers("public", "t", "INSERT")
    assert not binding.covers("public", "t", "UPDATE")
    assert not binding.covers("public", "u", "INSERT")
    anywhere = parse_binding({"event": "*", "schema": "*"})
    assert anywhere.covers("audit", "u", "DELETE")


@pytest.mark.parametrize(
    "raw",
    [
        "x",
        {"event": "UPSERT", "schema": "public"},
        {"event": "*", "schema": 5},
        {"event": "*", "filter": "n=eq"},
        {"event": "*", "select": "n"},
    ],
)
def test_bad_bindings_are_refused(raw: object) -> None:
    with pytest.raises(BindingError):
        parse_binding(raw)


# --- tokens --------------------------------------------------------------------------------


def test_minted_keys_carry_role_issuer_and_a_long_expiry() -> None:
    secret = generate_jwt_secret()
    assert len(secret) >= 64 and secret != generate_jwt_secret()
    keys = mint_keys(secret)
    assert keys == mint_keys(secret)  # a function of the secret: each run mints the same keys
    anon = jwt.decode(keys.anon_key, secret, algorithms=["HS256"])
    service = jwt.decode(keys.service_role_key, secret, algorithms=["HS256"])
    assert (anon["role"], service["role"], anon["iss"]) == ("anon", "service_role", ISSUER)
    assert anon["exp"] - time.time() >= 50 * 365 * 24 * 3600


def test_verifier_accepts_the_projects_keys() -> None:
    verifier = Verifier(SECRET)
    identity = verifier.verify(mint_keys(SECRET).anon_key)
    assert identity.role == "anon" and not identity.expired()
    user = verifier.verify(
        mint_token(SECRET, "authenticated", claims={"sub": "u1", "aud": "authenticated"})
    )
    assert user.claims["sub"] == "u1" and user.key != identity.key


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "MalformedJWT"),
        ("nonsense", "MalformedJWT"),
        (mint_token(SECRET + "-other", "anon"), "JwtSignatureError"),
        (mint_token(SECRET, "anon", lifetime_s=-1), "InvalidJWTToken"),
        (jwt.encode({"role": "anon"}, SECRET, algorithm="HS256"), "InvalidJWTToken"),
        (mint_token(SECRET, "postgres"), "Unauthorized"),
    ],
)
def test_verifier_refuses(token: str | None, code: str) -> None:
    with pytest.raises(AuthError) as refused:
        Verifier(SECRET).verify(token)
    assert refused.value.code == code
    assert refused.value.reason.startswith(f"{code}: ")


# --- payloads and routing ------------------------------------------------------------------

TABLE = TableInfo(
    oid=1,
    schema="public",
    name="jobs",
    columns=(Column("id", "int8"), Column("name", "text"), Column("status", "text")),
    primary_key=("id",),
    identity=("id",),
)


def change(kind: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> Change:
    return Change(9, 1, "public", "jobs", kind, new, old, "2024-01-01T00:00:00.000Z")


def test_payloads_have_the_shape_supabase_sends() -> None:
    new = {"id": 1, "name": "a", "status": "running"}
    old = {"id": 1, "name": "a", "status": "pending"}
    update = payload_data(change("UPDATE", new, old), TABLE)
    assert update == {
        "schema": "public",
        "table": "jobs",
        "commit_timestamp": "2024-01-01T00:00:00.000Z",
        "type": "UPDATE",
        "columns": [
            {"name": "id", "type": "int8"},
            {"name": "name", "type": "text"},
            {"name": "status", "type": "text"},
        ],
        "record": new,
        "old_record": {"id": 1},  # replica identity default: the key only
        "errors": None,
    }
    assert "old_record" not in payload_data(change("INSERT", new, None), TABLE)
    delete = payload_data(change("DELETE", None, old), TABLE, select=("id", "status"))
    assert "record" not in delete and delete["old_record"] == {"id": 1}
    assert [c["name"] for c in delete["columns"]] == ["id", "status"]


@dataclass
class Outbox:
    vsn: p.Vsn = p.Vsn.V2
    frames: list[list[Any]] = field(default_factory=list)

    def send_frame(self, frame: str) -> None:
        self.frames.append(json.loads(frame))


def test_routing_collects_the_matching_binding_ids_per_channel() -> None:
    identity = Verifier(SECRET).verify(mint_keys(SECRET).anon_key)
    everything = parse_binding({"event": "*", "schema": "public", "table": "jobs"})
    inserts_of_a = parse_binding(
        {"event": "INSERT", "schema": "public", "table": "jobs", "filter": "name=eq.a"}
    )
    narrow = parse_binding({"event": "*", "schema": "public", "select": ["id"]})
    other_table = parse_binding({"event": "*", "schema": "public", "table": "other"})
    registry = Registry()
    first = Channel(Outbox(), "realtime:1", "1", identity, (everything, inserts_of_a))
    second = Channel(Outbox(), "realtime:2", "1", identity, (narrow, other_table))
    registry.add(first)
    registry.add(second)

    routes = registry.route(change("INSERT", {"id": 1, "name": "a", "status": "x"}, None), TABLE)
    by_topic = {r.channel.topic: r for r in routes}
    assert by_topic["realtime:1"].ids == (everything.id, inserts_of_a.id)
    assert by_topic["realtime:2"].ids == (narrow.id,)
    assert by_topic["realtime:2"].select == ("id",)

    routes = registry.route(change("INSERT", {"id": 2, "name": "b", "status": "x"}, None), TABLE)
    assert {r.channel.topic: r.ids for r in routes}["realtime:1"] == (everything.id,)

    registry.remove(first)
    assert [r.channel.topic for r in registry.route(change("DELETE", None, {"id": 1}), TABLE)] == [
        "realtime:2"
    ]


def test_channels_with_like_bindings_share_one_match_but_get_their_own_routes() -> None:
    identity = Verifier(SECRET).verify(mint_keys(SECRET).anon_key)
    raw = {"event": "UPDATE", "schema": "public", "table": "jobs"}
    filtered = parse_binding({**raw, "filter": "name=eq.a"})
    registry = Registry()
    alike = [Channel(Outbox(), f"realtime:{n}", "1", identity, (parse_binding(raw),)) for n in "ab"]
    other = Channel(Outbox(), "realtime:c", "1", identity, (filtered,))
    for channel in (*alike, other):
        registry.add(channel)

    routes = registry.route(change("UPDATE", {"id": 1, "name": "b", "status": "x"}, None), TABLE)
    assert sorted(r.channel.topic for r in routes) == ["realtime:a", "realtime:b"]
    routes = registry.route(change("UPDATE", {"id": 1, "name": "a", "status": "x"}, None), TABLE)
    assert {r.channel.topic: r.ids for r in routes} == {
        "realtime:a": (binding_id(raw),),
        "realtime:b": (binding_id(raw),),
        "realtime:c": (filtered.id,),
    }


@pytest.mark.parametrize("vsn", list(p.Vsn))
def test_spliced_change_frames_equal_frames_encoded_whole(vsn: p.Vsn) -> None:
    identity = Verifier(SECRET).verify(mint_keys(SECRET).anon_key)
    everything = parse_binding({"event": "*", "schema": "public", "table": "jobs"})
    narrow = parse_binding({"event": "*", "schema": "public", "select": ["id", "status"]})
    registry = Registry()
    for n, bindings in enumerate([(everything,), (everything, narrow), (narrow,)]):
        registry.add(
            Channel(Outbox(vsn), f'realtime:"{n}"', str(n) if n else None, identity, bindings)
        )
    updated = change("UPDATE", {"id": 1, "name": "ä", "status": "x"}, {"id": 1})
    frames = ChangeFrames(updated, TABLE)
    routes = registry.route(updated, TABLE)
    assert len(routes) == 4  # the middle channel gets two: one per column list
    for route in routes:
        payload = {"ids": list(route.ids), "data": payload_data(updated, TABLE, route.select)}
        message = p.Message(
            route.channel.topic, p.POSTGRES_CHANGES, payload, None, route.channel.join_ref
        )
        assert json.loads(frames.for_route(route)) == json.loads(p.encode(message, vsn))


# --- a session, through an in-memory outbox ------------------------------------------------


class Tables:
    async def by_name(self, schema: str, name: str) -> TableInfo | None:
        return TABLE if (schema, name) == ("public", "jobs") else None


def session() -> tuple[Session, Outbox, Registry]:
    outbox, registry = Outbox(), Registry()
    verifier = Verifier(SECRET)
    identity = verifier.verify(mint_keys(SECRET).anon_key)
    return Session(outbox, identity, verifier, registry, Tables(), "test"), outbox, registry


def test_session_join_heartbeat_and_leave() -> None:
    s, outbox, registry = session()
    binding = {"event": "UPDATE", "schema": "public", "table": "jobs", "filter": "id=eq.1"}

    async def talk() -> None:
        await s.handle(p.Message("phoenix", "heartbeat", {}, ref="1"))
        await s.handle(
            p.Message(
                "realtime:x",
                "phx_join",
                {"config": {"postgres_changes": [binding]}},
                ref="2",
                join_ref="2",
            )
        )
        assert len(registry) == 1
        await s.handle(p.Message("realtime:x", "phx_leave", {}, ref="3", join_ref="2"))

    asyncio.run(talk())
    entry = {**binding, "id": binding_id(binding)}
    assert outbox.frames == [
        [None, "1", "phoenix", "phx_reply", {"status": "ok", "response": {}}],
        [
            "2",
            "2",
            "realtime:x",
            "phx_reply",
            {"status": "ok", "response": {"postgres_changes": [entry]}},
        ],
        [
            "2",
            None,
            "realtime:x",
            "system",
            {
                "extension": "postgres_changes",
                "status": "ok",
                "message": "Subscribed to PostgreSQL",
                "channel": "x",
            },
        ],
        ["2", "3", "realtime:x", "phx_reply", {"status": "ok", "response": {}}],
        ["2", "2", "realtime:x", "phx_close", {}],
    ]
    assert len(registry) == 0


def test_session_shuts_a_channel_whose_token_expires() -> None:
    s, outbox, registry = session()
    short = mint_token(SECRET, "anon", lifetime_s=60)
    join = p.Message("realtime:x", "phx_join", {"access_token": short}, "1", "1")
    asyncio.run(s.handle(join))
    assert outbox.frames[-1][4]["status"] == "ok" and len(registry) == 1
    outbox.frames.clear()
    s.expire_tokens(now=time.time() + 30)
    assert outbox.frames == []
    s.expire_tokens(now=time.time() + 120)
    assert outbox.frames == [
        [
            "1",
            None,
            "realtime:x",
            "system",
            {
                "extension": "system",
                "status": "error",
                "message": "Token has expired",
                "channel": "x",
            },
        ],
        ["1", "1", "realtime:x", "phx_close", {}],
    ]
    assert len(registry) == 0
