"""What a follower has seen of one job's Broadcast messages: each event once, in order, across
replays and reconnects. Pure; the socket side is client/follow.py.

A message on a job's topic is ``{"job": {...public fields}, "event": {event_id, ...} | null,
"id": ...}`` (supabase/schema/20_functions/70_broadcast_job_changes.sql). Events are told apart by
``event_id``, progress reports by the message id, so a message that a replay repeats is dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# A rejoin replays from a little before the newest change seen: a transaction that began
# earlier may have committed later (realtime.messages.inserted_at is its start time).
REPLAY_MARGIN_MS = 2_000
# supabase/realtime's cap on one replay; a replay this long may have left older ones out.
REPLAY_LIMIT = 25


def _ms(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event.get("run"), event.get("attempt"), event.get("event"), event.get("status"))


@dataclass
class JobStream:
    job_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    _event_ids: set[int] = field(default_factory=set)
    _message_ids: set[str] = field(default_factory=set)
    _newest_ms: int | None = None

    def accept(self, message: dict[str, Any]) -> bool:
        """Take one broadcast payload; whether it was news (not a repeat, not another job's)."""
        job = message.get("job")
        if not isinstance(job, dict) or str(job.get("job_id")) != self.job_id:
            return False
        event = message.get("event")
        message_id = message.get("id")
        if isinstance(event, dict) and isinstance(event.get("event_id"), int):
            if event["event_id"] in self._event_ids:
                return False
            self._event_ids.add(event["event_id"])
            self.events.append(event)
            self.events.sort(key=lambda e: int(e["event_id"]))
        elif isinstance(message_id, str):
            if message_id in self._message_ids:
                return False
            self._message_ids.add(message_id)
        self._take_job(job)
        return True

    def _take_job(self, job: dict[str, Any]) -> None:
        at = _ms(job.get("updated_at"))
        if at is not None and self._newest_ms is not None and at < self._newest_ms:
            return  # an older state arriving late (a replay); the newer one stands
        if at is not None:
            self._newest_ms = at
        self.job = job

    def take_api_job(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """Reconcile with ``GET /jobs/<id>`` (its row and ``events``), for when a replay may have
        been cut short: takes and returns the events it knows that no message brought (by
        event_id; an API without it is matched by run, attempt, event and status)."""
        self._take_job({k: v for k, v in job.items() if k != "events"})
        seen = Counter(_event_key(e) for e in self.events)
        missing: list[dict[str, Any]] = []
        for event in job.get("events") or []:
            key = _event_key(event)
            if isinstance(event.get("event_id"), int):
                if event["event_id"] not in self._event_ids:
                    self._event_ids.add(event["event_id"])
                    self.events.append(event)
                    missing.append(event)
            elif seen[key] > 0:
                seen[key] -= 1
            else:
                missing.append(event)
        self.events.sort(key=lambda e: int(e.get("event_id") or 0))
        return missing

    def replay_since_ms(self, fallback_ms: int) -> int:
        """Where a rejoin's replay starts."""
        newest = self._newest_ms if self._newest_ms is not None else fallback_ms
        return max(0, newest - REPLAY_MARGIN_MS)

    @property
    def status(self) -> str | None:
        status = self.job.get("status")
        return str(status) if status is not None else None
