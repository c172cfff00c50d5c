"""Following a job through Supabase Realtime.

By default (``live="broadcast"``) the job's private Broadcast topic ``jobs:job:<id>`` is joined
with the caller's token right after the submit, asking Realtime to replay what the job already
sent; a dropped socket or a restarted Realtime is rejoined with a replay from the newest change
seen, and each event is taken once (client/job_stream.py). ``live="postgres_changes"`` follows
``job_results`` changes instead: that subscription is made before the job is submitted, and the
job's state is read once after it is up, so no transition can fall between the two (but nothing
that happens while the socket is down is ever told again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realtime import AsyncRealtimeClient
from realtime.types import (
    BroadcastPayload,
    PostgresChangesPayload,
    RealtimeChannelConfig,
    RealtimeChannelOptions,
    RealtimePostgresChangesListenEvent,
)
from supabase import AsyncClient, acreate_client

from client.job_stream import REPLAY_LIMIT, JobStream
from client.submit import get_job, submit_job

BROADCAST = "broadcast"
POSTGRES_CHANGES = "postgres_changes"
LIVE_MODES = (BROADCAST, POSTGRES_CHANGES)
# How soon a lost socket is tried again, and how long at most between tries.
RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 2.0

TERMINAL = ("completed", "failed", "cancelled")
# How long to wait for the Realtime subscription before saying Realtime is unreachable.
SUBSCRIBE_TIMEOUT_S = 15.0


PROGRESS = ("progress", "progress_total", "progress_message")


class RealtimeUnavailable(RuntimeError):
    """The Realtime server could not be reached or would not subscribe us."""


@dataclass(frozen=True)
class FollowResult:
    job_id: str
    status: str
    result: str | None
    error: str | None
    transitions: list[str]
    # The job's events as Broadcast brought them, each once, in event_id order (broadcast only).
    events: list[dict[str, Any]] = field(default_factory=list)
    rejoins: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def _record(payload: PostgresChangesPayload) -> dict[str, Any]:
    data: dict[str, Any] = dict(payload.get("data", payload))
    record = data.get("record") or data.get("new") or {}
    return record if isinstance(record, dict) else {}


async def follow_job(
    functions_url: str,
    supabase_url: str,
    anon_key: str,
    task_name: str,
    kind: str | None = None,
    payload: dict[str, Any] | None = None,
    on_change: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float = 600.0,
    delay_s: float | None = None,
    access_token: str | None = None,
    live: str = BROADCAST,
    flow: dict[str, Any] | None = None,
) -> FollowResult:
    """Submit a job and wait, through Realtime, until it completes, fails or is cancelled.
    ``on_change`` sees each change of status or progress. With a user's ``access_token`` the
    job is theirs, and Realtime is joined as them (its policies show it only to them)."""
    if live not in LIVE_MODES:
        raise ValueError(f"live must be one of {', '.join(LIVE_MODES)}")
    follow = follow_job_broadcast if live == BROADCAST else follow_job_changes
    return await follow(
        functions_url,
        supabase_url,
        anon_key,
        task_name,
        kind,
        payload,
        on_change,
        timeout_s,
        delay_s,
        access_token,
        flow,
    )


class _Dropped:
    """Put on the queue when the channel errors or closes: rejoin."""


DROPPED = _Dropped()


class _Follower:
    """One job's Broadcast topic, rejoined with a replay whenever the socket goes."""

    def __init__(
        self, supabase_url: str, anon_key: str, access_token: str | None, job_id: str
    ) -> None:
        self.supabase_url = supabase_url
        self.anon_key = anon_key
        self.access_token = access_token
        self.topic = f"jobs:job:{job_id}"
        self.queue: asyncio.Queue[dict[str, Any] | _Dropped] = asyncio.Queue()
        self.client: AsyncRealtimeClient | None = None
        self.generation = 0

    async def connect(self) -> None:
        """Open the socket (no channel yet)."""
        client = AsyncRealtimeClient(
            f"{self.supabase_url.rstrip('/')}/realtime/v1",
            token=self.anon_key,
            auto_reconnect=False,
            max_retries=1,
            initial_backoff=RECONNECT_FIRST_S,
        )
        if self.access_token:
            await client.set_auth(self.access_token)
        await client.connect()
        self.client = client

    async def join(self, since_ms: int) -> None:
        """Join the job's topic privately, replaying from ``since_ms``; returns once joined."""
        assert self.client is not None
        self.generation += 1
        generation = self.generation
        joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_status(status: Any, error: Exception | None) -> None:
            state = str(getattr(status, "value", status))
            if state == "SUBSCRIBED":
                if not joined.done():
                    joined.set_result(None)
            elif not joined.done():
                joined.set_exception(RealtimeUnavailable(f"{state}: {error or ''}".strip()))
            elif generation == self.generation:
                self.queue.put_nowait(DROPPED)

        def on_message(message: BroadcastPayload) -> None:
            if generation == self.generation:
                self.queue.put_nowait(dict(message))

        config = RealtimeChannelConfig(
            broadcast={"replay": {"since": since_ms, "limit": REPLAY_LIMIT}},
            presence=None,
            private=True,
        )
        channel = self.client.channel(self.topic, RealtimeChannelOptions(config=config))
        channel.on_broadcast("job", on_message)
        await channel.subscribe(on_status)
        await asyncio.wait_for(joined, timeout=SUBSCRIBE_TIMEOUT_S)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected


async def follow_job_broadcast(
    functions_url: str,
    supabase_url: str,
    anon_key: str,
    task_name: str,
    kind: str | None = None,
    payload: dict[str, Any] | None = None,
    on_change: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float = 600.0,
    delay_s: float | None = None,
    access_token: str | None = None,
    flow: dict[str, Any] | None = None,
) -> FollowResult:
    """:func:`follow_job` over the job's private Broadcast topic, with replay."""
    follower = _Follower(supabase_url, anon_key, access_token, "")
    try:
        # Realtime is reached before the job exists: an unreachable Realtime submits nothing.
        await follower.connect()
    except Exception as exc:
        await follower.close()
        raise RealtimeUnavailable(f"could not reach Realtime at {supabase_url}: {exc}") from None
    try:
        started_ms = int(time.time() * 1000)
        job_id = await asyncio.to_thread(
            submit_job,
            functions_url,
            task_name,
            kind,
            payload,
            delay_s=delay_s,
            access_token=access_token,
            flow=flow,
        )
        follower.topic = f"jobs:job:{job_id}"
        stream = JobStream(job_id)
        transitions: list[str] = []
        last_told: list[Any] = []

        def tell(row: dict[str, Any]) -> None:
            told = [row.get("status"), *(row.get(k) for k in PROGRESS)]
            if told == last_told:
                return
            last_told[:] = told
            if not transitions or transitions[-1] != row.get("status"):
                transitions.append(str(row.get("status")))
            if on_change is not None:
                on_change(row)

        async def reconcile() -> None:
            current = await asyncio.to_thread(
                get_job, functions_url, job_id, access_token=access_token
            )
            stream.take_api_job(current)
            tell(stream.job)

        try:
            await follower.join(started_ms - 60_000)
        except Exception as exc:
            raise RealtimeUnavailable(
                f"could not follow {follower.topic} on Realtime at {supabase_url}: {exc}"
            ) from None
        deadline = time.monotonic() + timeout_s
        rejoins = 0
        replayed = 0
        await reconcile()
        while stream.status not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {job_id} did not finish within {timeout_s:g} s")
            item: dict[str, Any] | _Dropped | None
            try:
                item = await asyncio.wait_for(follower.queue.get(), min(remaining, 1.0))
            except TimeoutError:
                # No message for a second: a socket that died without a close frame shows
                # here (websockets notices on its next read).
                item = DROPPED if not follower.connected() else None
            if item is None:
                continue
            if isinstance(item, _Dropped):
                rejoins += 1
                replayed = 0
                await _rejoin(follower, stream, started_ms, deadline)
                continue
            meta = item.get("meta") or {}
            if isinstance(meta, dict) and meta.get("replayed"):
                replayed += 1
                if replayed == REPLAY_LIMIT:
                    await reconcile()  # the replay may have left older events out
            body = item.get("payload")
            if isinstance(body, dict) and stream.accept(body):
                tell(stream.job)
        return FollowResult(
            job_id=job_id,
            status=str(stream.status),
            result=stream.job.get("result"),
            error=stream.job.get("error"),
            transitions=transitions,
            events=list(stream.events),
            rejoins=rejoins,
        )
    finally:
        await follower.close()


async def _rejoin(follower: _Follower, stream: JobStream, started_ms: int, deadline: float) -> None:
    """Reconnect and rejoin until it works or the deadline passes (Realtime restarting)."""
    pause = RECONNECT_FIRST_S
    while True:
        await follower.close()
        try:
            await follower.connect()
            await follower.join(stream.replay_since_ms(started_ms))
            return
        except Exception:
            if time.monotonic() + pause >= deadline:
                raise TimeoutError(
                    f"could not rejoin {follower.topic} before the deadline"
                ) from None
            await asyncio.sleep(pause)  # a backoff between reconnects, not a wait for a state
            pause = min(RECONNECT_MAX_S, pause * 2)


async def follow_job_changes(
    functions_url: str,
    supabase_url: str,
    anon_key: str,
    task_name: str,
    kind: str | None = None,
    payload: dict[str, Any] | None = None,
    on_change: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float = 600.0,
    delay_s: float | None = None,
    access_token: str | None = None,
    flow: dict[str, Any] | None = None,
) -> FollowResult:
    """:func:`follow_job` over ``postgres_changes`` on ``job_results``."""
    try:
        supabase: AsyncClient = await acreate_client(supabase_url, anon_key)
        if access_token:
            await supabase.realtime.set_auth(access_token)
    except Exception as exc:
        raise RealtimeUnavailable(f"could not reach Realtime at {supabase_url}: {exc}") from None
    changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    subscribed = asyncio.Event()

    def on_status(status: Any, error: Exception | None) -> None:
        if str(getattr(status, "value", status)) == "SUBSCRIBED":
            subscribed.set()

    channel = supabase.channel("job-follow")
    channel.on_postgres_changes(
        RealtimePostgresChangesListenEvent.All,
        schema="public",
        table="job_results",
        callback=lambda p: changes.put_nowait(_record(p)),
    )
    try:
        try:
            await channel.subscribe(on_status)
            await asyncio.wait_for(subscribed.wait(), timeout=SUBSCRIBE_TIMEOUT_S)
        except Exception as exc:
            reason = "no subscription within 15 s" if isinstance(exc, TimeoutError) else exc
            raise RealtimeUnavailable(
                f"could not reach Realtime at {supabase_url}: {reason}"
            ) from None
        job_id = await asyncio.to_thread(
            submit_job,
            functions_url,
            task_name,
            kind,
            payload,
            delay_s=delay_s,
            access_token=access_token,
            flow=flow,
        )
        current = await asyncio.to_thread(get_job, functions_url, job_id, access_token=access_token)
        transitions: list[str] = []
        latest: dict[str, Any] = {}

        def advance(row: dict[str, Any]) -> None:
            nonlocal latest
            if str(row.get("job_id")) != job_id:
                return
            if latest and str(row.get("updated_at", "")) < str(latest.get("updated_at", "")):
                return  # an older change arriving late
            moved = [latest.get(k) for k in PROGRESS] != [row.get(k) for k in PROGRESS]
            latest = row
            if not transitions or transitions[-1] != row.get("status"):
                transitions.append(str(row.get("status")))
            elif not moved:
                return
            if on_change is not None:
                on_change(row)

        advance(current)
        deadline = time.monotonic() + timeout_s
        while latest.get("status") not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {job_id} did not finish within {timeout_s:g} s")
            advance(await asyncio.wait_for(changes.get(), timeout=remaining))
        return FollowResult(
            job_id=job_id,
            status=str(latest["status"]),
            result=latest.get("result"),
            error=latest.get("error"),
            transitions=transitions,
        )
    finally:
        # Closing a connection that never opened may raise; there is nothing to close then.
        with contextlib.suppress(Exception):
            await supabase.remove_all_channels()
