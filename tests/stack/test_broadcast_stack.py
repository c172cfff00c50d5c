"""Broadcast from the database through the local gateway, held to the real clients: raw Phoenix
frames (vsn 2.0.0, as realtime-js speaks), supabase-py's ``realtime`` and supabase-js under Node,
each joining private job topics with a user's token (issue 21)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import websockets
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.types import RealtimeChannelConfig, RealtimeChannelOptions

from devstack.auth.keys import ApiKeys, generate_jwt_secret, mint_keys, mint_token
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from tests.waiting import wait_for

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
NODE_CLIENT = Path(__file__).with_name("broadcast_node_client.mjs")
USER_A = str(uuid.uuid4())
USER_B = str(uuid.uuid4())


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 20.0) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def secret() -> str:
    return generate_jwt_secret()


@pytest.fixture(scope="module")
def keys(secret: str) -> ApiKeys:
    return mint_keys(secret)


@pytest.fixture
def gateway(db_url: str, secret: str) -> Iterator[RunningGateway]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into private.settings (name, value) values"
            " ('job_webhook_url', 'http://127.0.0.1:9/webhook'),"
            " ('job_webhook_secret', 'whsec_cmxzLXRlc3QtcXVldWVkLWNhbGwtc2VjcmV0LTMy')"
        )
    with start_in_thread(GatewayConfig(db_url, secret)) as running:
        yield running


def user_token(secret: str, sub: str) -> str:
    return mint_token(secret, "authenticated", claims={"sub": sub})


def submit(db_url: str, name: str, owner: str | None = None) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction():
        if owner is not None:
            claims = json.dumps({"sub": owner, "role": "authenticated"})
            conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        row = conn.execute("select submit_job(%s)", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def set_status(db_url: str, job_id: str, status: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "update job_results set status = %s, attempts = attempts + 1 where job_id = %s",
            (status, job_id),
        )


class Raw:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def send(self, *message: Any) -> None:
        await self.ws.send(json.dumps(list(message)))

    async def recv(self) -> list[Any]:
        return list(json.loads(await asyncio.wait_for(self.ws.recv(), 10)))


async def raw(gateway: RunningGateway, key: str) -> Raw:
    url = f"ws://127.0.0.1:{gateway.port}/realtime/v1/websocket?apikey={key}&vsn=2.0.0"
    return Raw(await websockets.connect(url))


def join_payload(token: str, private: bool, replay: dict[str, int] | None = None) -> dict[str, Any]:
    broadcast: dict[str, Any] = {"ack": False, "self": False}
    if replay is not None:
        broadcast["replay"] = replay
    return {
        "config": {
            "broadcast": broadcast,
            "presence": {"key": "", "enabled": False},
            "private": private,
            "postgres_changes": [],
        },
        "access_token": token,
    }


def test_a_private_channel_gets_its_users_messages_in_commit_order(
    gateway: RunningGateway, keys: ApiKeys, secret: str, db_url: str, loop: LoopThread
) -> None:
    async def scenario() -> None:
        c = await raw(gateway, keys.anon_key)
        token = user_token(secret, USER_A)
        topic = f"realtime:jobs:user:{USER_A}"
        await c.send("1", "1", topic, "phx_join", join_payload(token, private=True))
        assert await c.recv() == [
            "1",
            "1",
            topic,
            "phx_reply",
            {"status": "ok", "response": {"postgres_changes": []}},
        ]
        job_id = await asyncio.to_thread(submit, db_url, "mine", USER_A)
        await asyncio.to_thread(submit, db_url, "public")  # another topic: never arrives here
        await asyncio.to_thread(set_status, db_url, job_id, "running")
        first, second = await c.recv(), await c.recv()
        for frame, event in ((first, "submitted"), (second, "started")):
            join_ref, ref, frame_topic, kind, payload = frame
            assert [join_ref, ref, frame_topic, kind] == ["1", None, topic, "broadcast"]
            assert payload["type"] == "broadcast" and payload["event"] == "job"
            assert payload["payload"]["event"]["event"] == event
            assert payload["payload"]["job"]["job_id"] == job_id
            assert payload["meta"] == {"id": payload["payload"]["id"]}
        await c.ws.close()

    loop.run(scenario())


@pytest.mark.parametrize(
    ("who", "topic"),
    [
        ("anon", f"jobs:user:{USER_A}"),
        ("b", f"jobs:user:{USER_A}"),
        ("b", "jobs:job:not-a-uuid"),
        ("b", "jobs:everything"),
    ],
)
def test_a_topic_the_policies_refuse_is_not_joined(
    gateway: RunningGateway,
    keys: ApiKeys,
    secret: str,
    db_url: str,
    loop: LoopThread,
    who: str,
    topic: str,
) -> None:
    token = keys.anon_key if who == "anon" else user_token(secret, USER_B)

    async def scenario() -> None:
        c = await raw(gateway, keys.anon_key)
        await c.send("1", "1", f"realtime:{topic}", "phx_join", join_payload(token, private=True))
        reply = await c.recv()
        assert reply[3] == "phx_reply" and reply[4]["status"] == "error"
        assert reply[4]["response"]["reason"].startswith("Unauthorized: You do not have")
        await asyncio.to_thread(submit, db_url, "secret", USER_A)
        # The same socket still works, and the refused topic never delivers.
        await c.send(None, "2", "phoenix", "heartbeat", {})
        assert (await c.recv())[:4] == [None, "2", "phoenix", "phx_reply"]
        await c.ws.close()

    loop.run(scenario())


def test_replay_is_private_only_and_fills_the_gap_without_duplicates(
    gateway: RunningGateway, keys: ApiKeys, secret: str, db_url: str, loop: LoopThread
) -> None:
    job_id = submit(db_url, "missed", USER_A)
    set_status(db_url, job_id, "running")
    since = int(time.time() * 1000) - 60_000
    topic = f"realtime:jobs:job:{job_id}"
    token = user_token(secret, USER_A)

    async def scenario() -> None:
        c = await raw(gateway, keys.anon_key)
        await c.send("1", "1", topic, "phx_join", join_payload(token, False, {"since": since}))
        reply = await c.recv()
        assert reply[4] == {
            "status": "error",
            "response": {
                "reason": "UnableToReplayMessages: Replay is not allowed for public channels"
            },
        }
        await c.send("2", "2", topic, "phx_join", join_payload(token, True, {"since": since}))
        assert (await c.recv())[4]["status"] == "ok"
        replayed = [await c.recv()]  # the job's topic starts after its submit
        assert [f[4]["payload"]["event"]["event"] for f in replayed] == ["started"]
        assert all(f[4]["meta"]["replayed"] is True for f in replayed)
        await asyncio.to_thread(set_status, db_url, job_id, "completed")
        live = await c.recv()
        assert (
            live[4]["payload"]["event"]["event"] == "completed"
            and "replayed" not in live[4]["meta"]
        )
        # limit: only the newest are replayed, oldest first.
        await c.send(
            "3", "3", topic, "phx_join", join_payload(token, True, {"since": since, "limit": 1})
        )
        assert (await c.recv())[4]["status"] == "ok"
        newest = await c.recv()
        assert newest[4]["payload"]["event"]["event"] == "completed"
        await c.ws.close()

    loop.run(scenario())


def test_supabase_py_subscribes_privately_and_receives(
    gateway: RunningGateway, keys: ApiKeys, secret: str, db_url: str, loop: LoopThread
) -> None:
    got: list[dict[str, Any]] = []
    states: list[str] = []

    async def subscribe(topic: str, token: str) -> AsyncRealtimeClient:
        client = AsyncRealtimeClient(gateway.url, token=keys.anon_key, auto_reconnect=False)
        await client.set_auth(token)
        await client.connect()
        config = RealtimeChannelConfig(broadcast={}, presence=None, private=True)
        channel = client.channel(topic, RealtimeChannelOptions(config=config))
        channel.on_broadcast("job", lambda payload: got.append(dict(payload)))
        await channel.subscribe(lambda state, _err: states.append(state.value))
        return client

    client = loop.run(subscribe(f"jobs:user:{USER_A}", user_token(secret, USER_A)))
    try:
        wait_for(lambda: RealtimeSubscribeStates.SUBSCRIBED.value in states, what="subscribed")
        job_id = submit(db_url, "py", USER_A)
        wait_for(lambda: len(got) == 1, what="the submit message")
        assert got[0]["payload"]["job"]["job_id"] == job_id
        assert got[0]["payload"]["event"]["event"] == "submitted"
    finally:
        loop.run(client.close())


def run_node(
    gateway: RunningGateway,
    apikey: str,
    token: str,
    topic: str,
    want: int,
    since: int | None = None,
) -> list[dict[str, Any]]:
    args = [
        "node",
        "--experimental-websocket",  # Node 20: realtime-js needs a global WebSocket
        str(NODE_CLIENT),
        f"http://127.0.0.1:{gateway.port}",
        apikey,
        token,
        topic,
        str(want),
    ]
    if since is not None:
        args.append(str(since))
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SUPABASE_JS_FROM": str(ROOT / "frontend" / "package.json")},
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, (done.returncode, lines, done.stderr[-2000:])
    return lines


def test_supabase_js_under_node_joins_privately_with_replay(
    gateway: RunningGateway, keys: ApiKeys, secret: str, db_url: str
) -> None:
    job_id = submit(db_url, "node", USER_A)
    set_status(db_url, job_id, "running")
    since = int(time.time() * 1000) - 60_000
    lines = run_node(
        gateway, keys.anon_key, user_token(secret, USER_A), f"jobs:job:{job_id}", 1, since
    )
    assert {"status": "SUBSCRIBED", "error": None} in lines
    got = [line["broadcast"] for line in lines if "broadcast" in line]
    assert [g["payload"]["event"]["event"] for g in got] == ["started"]
    assert all(g["meta"]["replayed"] is True for g in got)


def test_supabase_js_is_refused_a_topic_of_another_user(
    gateway: RunningGateway, keys: ApiKeys, secret: str
) -> None:
    args = [
        "node",
        "--experimental-websocket",  # Node 20: realtime-js needs a global WebSocket
        str(NODE_CLIENT),
        f"http://127.0.0.1:{gateway.port}",
        keys.anon_key,
        user_token(secret, USER_B),
        f"jobs:user:{USER_A}",
        "1",
    ]
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SUPABASE_JS_FROM": str(ROOT / "frontend" / "package.json")},
    )
    assert done.returncode == 2, done.stdout
    assert "CHANNEL_ERROR" in done.stdout and "Unauthorized" in done.stdout
