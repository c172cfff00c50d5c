"""The Realtime gateway against a real Postgres, with the real Python ``realtime`` client and raw
Phoenix frames (``vsn=2.0.0``, as realtime-js sends them)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import pytest
import websockets
from realtime import AsyncRealtimeClient, RealtimePostgresChangesListenEvent
from websockets.asyncio.client import ClientConnection

from devstack.auth.keys import ApiKeys, generate_jwt_secret, mint_keys, mint_token
from devstack.realtime import GatewayConfig, RunningGateway, install_capture, start_in_thread
from tests.waiting import wait_for

T = TypeVar("T")
Event = RealtimePostgresChangesListenEvent


class LoopThread:
    """An event loop on its own thread, so the test thread can wait with ``wait_for``."""

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
    with start_in_thread(GatewayConfig(db_url, secret)) as running:
        yield running


def execute(db_url: str, statement: str, *params: Any) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(statement.encode() if not params else statement, params or None)


def insert_jobs(db_url: str, *names: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for name in names:
            conn.execute("insert into public.job_results (task_name) values (%s)", (name,))


def set_status(db_url: str, name: str, status: str) -> None:
    execute(db_url, "update public.job_results set status = %s where task_name = %s", status, name)


# --- the Python client ---------------------------------------------------------------------


@dataclass
class PySubscriber:
    """One AsyncRealtimeClient with one channel, collecting what its callbacks receive."""

    client: AsyncRealtimeClient
    payloads: list[dict[str, Any]] = field(default_factory=list)

    def events(self) -> list[tuple[str, str | None, str | None]]:
        """``(type, task_name, status)`` of each change, in arrival order."""
        out = []
        for payload in list(self.payloads):
            data = payload["data"]
            row = data.get("record") or data.get("old_record") or {}
            out.append((data["type"], row.get("task_name"), row.get("status")))
        return out

    def names(self) -> list[str | None]:
        return [name for _, name, _ in self.events()]


async def py_subscribe(
    gateway: RunningGateway,
    key: str,
    bindings: list[tuple[Event, str | None]],
    table: str = "job_results",
) -> PySubscriber:
    client = AsyncRealtimeClient(gateway.url, token=key, auto_reconnect=False, max_retries=1)
    await client.connect()
    subscriber = PySubscriber(client)
    channel = client.channel("jobs")
    for event, filter_ in bindings:
        channel.on_postgres_changes(
            event,
            callback=lambda payload: subscriber.payloads.append(dict(payload)),
            table=table,
            schema="public",
            filter=filter_,
        )
    states: list[str] = []
    await channel.subscribe(lambda state, error: states.append(str(state.value)))
    assert states == ["SUBSCRIBED"], states
    return subscriber


def test_python_client_gets_matching_inserts_and_updates_in_commit_order(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    sub = loop.run(
        py_subscribe(
            gateway,
            keys.anon_key,
            [(Event.Insert, "task_name=eq.alpha"), (Event.Update, "task_name=eq.alpha")],
        )
    )
    insert_jobs(db_url, "beta", "alpha")
    set_status(db_url, "beta", "running")
    set_status(db_url, "alpha", "running")
    set_status(db_url, "alpha", "completed")  # committed last: nothing can arrive after it

    wait_for(lambda: len(sub.events()) >= 3, timeout=10, what="three changes to alpha")
    assert sub.events() == [
        ("INSERT", "alpha", "pending"),
        ("UPDATE", "alpha", "running"),
        ("UPDATE", "alpha", "completed"),
    ]
    update = sub.payloads[2]["data"]
    assert update["old_record"]["status"] == "running"  # job_results has replica identity full
    assert update["errors"] is None
    assert {"name": "attempts", "type": "int4"} in update["columns"]
    assert update["record"]["attempts"] == 0  # typed JSON, not text
    loop.run(sub.client.close())


def test_anon_does_not_get_rows_its_policy_hides_but_service_role_does(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    execute(
        db_url,
        "create policy hide_secrets on public.job_results as restrictive for select to anon"
        " using (task_name <> 'secret')",
    )
    anon = loop.run(py_subscribe(gateway, keys.anon_key, [(Event.All, None)]))
    service = loop.run(py_subscribe(gateway, keys.service_role_key, [(Event.All, None)]))

    insert_jobs(db_url, "secret", "visible")
    set_status(db_url, "secret", "running")
    set_status(db_url, "visible", "running")

    wait_for(lambda: len(service.events()) >= 4, timeout=10, what="service_role's four changes")
    wait_for(lambda: len(anon.events()) >= 2, timeout=10, what="anon's two changes")
    assert anon.names() == ["visible", "visible"]
    assert service.names() == ["secret", "visible", "secret", "visible"]
    loop.run(anon.client.close())
    loop.run(service.client.close())


def test_a_bad_api_key_is_refused(gateway: RunningGateway, keys: ApiKeys, loop: LoopThread) -> None:
    other = mint_keys(generate_jwt_secret()).anon_key
    client = AsyncRealtimeClient(gateway.url, token=other, auto_reconnect=False, max_retries=1)
    with pytest.raises(websockets.InvalidStatus) as refused:
        loop.run(client.connect())
    assert refused.value.response.status_code == 403

    base = f"ws://127.0.0.1:{gateway.port}/realtime/v1/websocket?vsn=2.0.0"
    secret_for_expired = gateway.gateway.config.jwt_secret
    expired = mint_token(secret_for_expired, "anon", lifetime_s=-10)
    for url in (base, f"{base}&apikey=not-a-jwt", f"{base}&apikey={expired}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            loop.run(websockets.connect(url))
        assert refused.value.response.status_code == 403, url

    ws = loop.run(websockets.connect(f"{base}&apikey={keys.anon_key}"))  # the right key works
    loop.run(ws.close())


def test_a_row_larger_than_a_notify_payload_is_delivered(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    sub = loop.run(py_subscribe(gateway, keys.anon_key, [(Event.Insert, "task_name=eq.big")]))
    blob = "x" * 100_000
    execute(
        db_url,
        "insert into public.job_results (task_name, payload) values ('big', %s)",
        json.dumps({"blob": blob}),
    )
    wait_for(lambda: sub.payloads, timeout=10, what="the big row")
    assert sub.payloads[0]["data"]["record"]["payload"] == {"blob": blob}
    loop.run(sub.client.close())


def test_delete_and_wildcard_events_with_an_in_filter(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    sub = loop.run(py_subscribe(gateway, keys.anon_key, [(Event.All, "task_name=in.(x,y)")]))
    insert_jobs(db_url, "x", "y", "z")
    set_status(db_url, "x", "running")
    # Row-level security is checked on the row as it is when the change is delivered (as on
    # Supabase), so an insert or update whose row is already deleted by then is not sent.
    wait_for(lambda: len(sub.events()) >= 3, timeout=10, what="changes before the deletes")
    execute(db_url, "delete from public.job_results where task_name in ('y', 'z')")
    execute(db_url, "delete from public.job_results where task_name = 'x'")

    wait_for(lambda: len(sub.events()) >= 5, timeout=10, what="five changes to x and y")
    assert sub.events() == [
        ("INSERT", "x", "pending"),
        ("INSERT", "y", "pending"),
        ("UPDATE", "x", "running"),
        ("DELETE", "y", "pending"),
        ("DELETE", "x", "running"),
    ]
    deleted = sub.payloads[3]["data"]
    assert "record" not in deleted and deleted["old_record"]["task_name"] == "y"
    loop.run(sub.client.close())


# --- raw Phoenix frames (vsn 2.0.0, realtime-js's serializer) --------------------------------


@dataclass
class RawClient:
    ws: ClientConnection
    frames: list[list[Any]] = field(default_factory=list)

    async def send(self, *message: Any) -> None:
        await self.ws.send(json.dumps(list(message)))

    async def recv(self, timeout: float = 10.0) -> list[Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert isinstance(frame, list)
        return frame

    async def recv_until(self, predicate: Callable[[list[Any]], bool]) -> list[Any]:
        while True:
            frame = await self.recv()
            if predicate(frame):
                return frame


async def raw_connect(gateway: RunningGateway, key: str) -> RawClient:
    url = f"ws://127.0.0.1:{gateway.port}/realtime/v1/websocket?apikey={key}&vsn=2.0.0"
    return RawClient(await websockets.connect(url))


JOBS = {"event": "*", "schema": "public", "table": "job_results"}
OK = {"status": "ok", "response": {}}


def test_phoenix_channel_protocol(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    async def scenario() -> None:
        c = await raw_connect(gateway, keys.anon_key)
        await c.send(None, "1", "phoenix", "heartbeat", {})
        assert await c.recv() == [None, "1", "phoenix", "phx_reply", OK]

        bindings = [JOBS, {**JOBS, "event": "INSERT", "filter": "attempts=gte.0"}]
        await c.send(
            "2",
            "2",
            "realtime:a",
            "phx_join",
            {
                "config": {
                    "broadcast": {"self": False},
                    "presence": {"key": "", "enabled": True},
                    "private": False,
                    "postgres_changes": bindings,
                },
                "access_token": keys.anon_key,
            },
        )
        join_ref, ref, topic, event, payload = await c.recv()
        assert [join_ref, ref, topic, event] == ["2", "2", "realtime:a", "phx_reply"]
        assert payload["status"] == "ok"
        entries = payload["response"]["postgres_changes"]
        assert [{k: v for k, v in e.items() if k != "id"} for e in entries] == bindings
        assert all(isinstance(e["id"], int) and e["id"] > 0 for e in entries)
        assert await c.recv() == ["2", None, "realtime:a", "presence_state", {}]
        assert await c.recv() == [
            "2",
            None,
            "realtime:a",
            "system",
            {
                "extension": "postgres_changes",
                "status": "ok",
                "message": "Subscribed to PostgreSQL",
                "channel": "a",
            },
        ]

        await asyncio.to_thread(insert_jobs, db_url, "one")
        change = await c.recv()
        assert change[:4] == ["2", None, "realtime:a", "postgres_changes"]  # the join's join_ref
        assert sorted(change[4]["ids"]) == sorted(e["id"] for e in entries)

        await c.send("2", "3", "realtime:nope", "access_token", {"access_token": "x"})
        assert (await c.recv())[4] == {"status": "error", "response": {"reason": "unmatched topic"}}

        await c.send("2", "4", "realtime:a", "phx_leave", {})
        assert await c.recv() == ["2", "4", "realtime:a", "phx_reply", OK]
        assert await c.recv() == ["2", "2", "realtime:a", "phx_close", {}]
        await c.ws.close()

    loop.run(scenario())


def test_joins_with_bad_bindings_or_tokens_fail_as_on_supabase(
    gateway: RunningGateway, keys: ApiKeys, secret: str, loop: LoopThread
) -> None:
    async def scenario() -> None:
        c = await raw_connect(gateway, keys.anon_key)
        for n, binding, problem in [
            (1, {**JOBS, "filter": "nope=eq.1"}, "has no column nope"),
            (2, {**JOBS, "table": "missing"}, "does not exist"),
            (3, {**JOBS, "filter": "task_name=regexish.x"}, "not supported"),
        ]:
            await c.send(
                str(n),
                str(n),
                f"realtime:b{n}",
                "phx_join",
                {"config": {"postgres_changes": [binding]}},
            )
            reply = await c.recv()
            assert reply[4]["status"] == "ok"  # as on Supabase, the join succeeds...
            [entry] = reply[4]["response"]["postgres_changes"]
            assert entry.get("filter") == binding.get("filter")
            system = await c.recv()  # ...and the subscription fails
            assert system[3] == "system" and system[4]["status"] == "error"
            assert problem in system[4]["message"]

        foreign = mint_keys(generate_jwt_secret()).anon_key
        await c.send("9", "9", "realtime:c", "phx_join", {"config": {}, "access_token": foreign})
        reply = await c.recv()
        reason = "JwtSignatureError: Failed to validate JWT signature"
        assert reply[4] == {"status": "error", "response": {"reason": reason}}
        await c.ws.close()

    loop.run(scenario())


def test_access_token_changes_the_role_of_a_channel(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    execute(
        db_url,
        "create policy hide_secrets on public.job_results as restrictive for select to anon"
        " using (task_name <> 'secret')",
    )

    async def scenario() -> None:
        c = await raw_connect(gateway, keys.anon_key)
        await c.send("1", "1", "realtime:t", "phx_join", {"config": {"postgres_changes": [JOBS]}})
        await c.recv_until(lambda f: f[3] == "system")
        await asyncio.to_thread(insert_jobs, db_url, "secret", "first")
        assert (await c.recv())[4]["data"]["record"]["task_name"] == "first"

        token = {"access_token": keys.service_role_key}
        await c.send("1", "2", "realtime:t", "access_token", token)
        await c.send(None, "3", "phoenix", "heartbeat", {})  # handled in order: the token is in
        await c.recv_until(lambda f: f[1] == "3")
        await asyncio.to_thread(insert_jobs, db_url, "secret")
        assert (await c.recv())[4]["data"]["record"]["task_name"] == "secret"

        await c.send("1", "4", "realtime:t", "access_token", {"access_token": "garbage"})
        system = await c.recv()
        assert system[3:] == [
            "system",
            {
                "extension": "system",
                "status": "error",
                "message": "The token provided is not a valid JWT",
                "channel": "t",
            },
        ]
        assert await c.recv() == ["1", "1", "realtime:t", "phx_close", {}]
        await c.ws.close()

    loop.run(scenario())


def test_two_hundred_subscribers_on_one_gateway(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    async def scenario() -> None:
        clients = await asyncio.gather(*(raw_connect(gateway, keys.anon_key) for _ in range(200)))
        for i, c in enumerate(clients):
            await c.send(
                "1",
                "1",
                f"realtime:n{i}",
                "phx_join",
                {"config": {"postgres_changes": [{**JOBS, "event": "INSERT"}]}},
            )
        await asyncio.gather(*(c.recv_until(lambda f: f[3] == "system") for c in clients))
        await asyncio.to_thread(insert_jobs, db_url, "fan-out")
        changes = await asyncio.gather(*(c.recv() for c in clients))
        assert {c[4]["data"]["record"]["task_name"] for c in changes} == {"fan-out"}
        assert {c[2] for c in changes} == {f"realtime:n{i}" for i in range(200)}
        await asyncio.gather(*(c.ws.close() for c in clients))

    loop.run(scenario(), timeout=60)


def test_a_silent_connection_is_closed(
    db_url: str, secret: str, keys: ApiKeys, loop: LoopThread
) -> None:
    config = GatewayConfig(db_url, secret, heartbeat_timeout_s=1.0)
    with start_in_thread(config) as gateway:
        c = loop.run(raw_connect(gateway, keys.anon_key))
        wait_for(lambda: c.ws.close_code is not None, timeout=10, what="the idle one to close")
        assert c.ws.close_code == 1000 and c.ws.close_reason == "heartbeat timeout"


def test_changes_flow_again_after_the_listener_connection_is_killed(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    sub = loop.run(py_subscribe(gateway, keys.anon_key, [(Event.Insert, None)]))
    execute(
        db_url,
        "select pg_terminate_backend(pid) from pg_stat_activity"
        " where application_name = 'devstack.realtime.listen' and datname = current_database()",
    )
    probes = iter(range(1000))

    def probe_arrived() -> bool:
        insert_jobs(db_url, f"probe-{next(probes)}")  # changes made while it was away are lost
        return bool(sub.payloads)

    wait_for(probe_arrived, timeout=20, interval=0.2, what="a change after reconnecting")
    loop.run(sub.client.close())


def test_a_table_added_to_the_publication_is_followed(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    execute(
        db_url,
        "create table public.notes (body text, n int);"
        " grant select on public.notes to anon;"
        " alter publication supabase_realtime add table public.notes",
    )
    install_capture(db_url)  # idempotent; the event trigger has already added the trigger
    sub = loop.run(py_subscribe(gateway, keys.anon_key, [(Event.All, "n=gt.1")], table="notes"))
    execute(db_url, "insert into public.notes values ('small', 1), ('large', 2)")
    wait_for(lambda: sub.payloads, timeout=10, what="the note")
    assert [p["data"]["record"] for p in sub.payloads] == [{"body": "large", "n": 2}]
    loop.run(sub.client.close())


def test_changes_are_captured_only_while_a_gateway_runs(db_url: str, secret: str) -> None:
    def captured() -> int:
        with psycopg.connect(db_url) as conn:
            row = conn.execute("select count(*) from realtime_local.changes").fetchone()
        assert row is not None
        return int(row[0])

    with start_in_thread(GatewayConfig(db_url, secret)):
        insert_jobs(db_url, "while running")
        assert captured() == 1
    insert_jobs(db_url, "after the gateway stopped")  # its lease is gone: nothing is kept
    assert captured() == 1
