"""Following a job through Supabase Realtime with the ``supabase`` package.

The subscription is made before the job is submitted, and the job's state is read once after
the subscription is up, so no transition can fall between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realtime.types import PostgresChangesPayload, RealtimePostgresChangesListenEvent
from supabase import AsyncClient, acreate_client

from client.submit import get_job, submit_job

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
    flow: dict[str, Any] | None = None,
) -> FollowResult:
    """Submit a job and wait, through Realtime, until it completes, fails or is cancelled.
    ``on_change`` sees each change of status or progress. With a user's ``access_token`` the
    job is theirs, and Realtime is joined as them (RLS shows it only to them)."""
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
