"""What a follower keeps of one job's Broadcast messages: each event once, in event_id order,
across replays that repeat what already came; the newest state wins; where a rejoin's replay
starts; and what GET /jobs/<id> adds when a replay may have been cut short."""

from __future__ import annotations

from typing import Any

from client.job_stream import REPLAY_MARGIN_MS, JobStream

JOB = "11111111-1111-1111-1111-111111111111"


def message(n: int, status: str, event: str | None, at: str, job_id: str = JOB) -> dict[str, Any]:
    return {
        "id": f"m{n}-{event}",
        "job": {"job_id": job_id, "status": status, "updated_at": at},
        "event": None if event is None else {"event_id": n, "event": event, "status": status},
    }


def test_each_event_once_in_order_and_the_newest_state_wins() -> None:
    stream = JobStream(JOB)
    started = message(2, "running", "started", "2026-12-07T06:00:01+00:00")
    done = message(3, "completed", "completed", "2026-12-07T06:00:02+00:00")
    assert stream.accept(started) and stream.accept(done)
    # A replay after a rejoin repeats them, and brings an older one that was missed.
    assert not stream.accept(started) and not stream.accept(done)
    assert stream.accept(message(1, "pending", "submitted", "2026-12-07T06:00:00+00:00"))
    assert [e["event"] for e in stream.events] == ["submitted", "started", "completed"]
    assert stream.status == "completed"  # the late, older state did not win


def test_progress_reports_are_told_apart_by_message_id() -> None:
    stream = JobStream(JOB)
    progress = message(0, "running", None, "2026-12-07T06:00:01+00:00")
    assert stream.accept(progress) and not stream.accept(progress)
    assert stream.events == []


def test_another_jobs_message_is_ignored() -> None:
    stream = JobStream(JOB)
    other = message(1, "pending", "submitted", "2026-12-07T06:00:00+00:00", job_id="x")
    assert not stream.accept(other) and stream.job == {}


def test_a_rejoin_replays_from_just_before_the_newest_change() -> None:
    stream = JobStream(JOB)
    assert stream.replay_since_ms(10_000) == 10_000 - REPLAY_MARGIN_MS
    stream.accept(message(1, "pending", "submitted", "1970-01-01T00:01:40+00:00"))
    assert stream.replay_since_ms(0) == 100_000 - REPLAY_MARGIN_MS


def test_the_api_fills_in_events_no_message_brought() -> None:
    stream = JobStream(JOB)
    stream.accept(message(2, "running", "started", "2026-12-07T06:00:01+00:00"))
    api = {
        "job_id": JOB,
        "status": "running",
        "updated_at": "2026-12-07T06:00:01+00:00",
        "events": [
            {"event_id": 1, "event": "submitted", "status": "pending"},
            {"event_id": 2, "event": "started", "status": "running"},
        ],
    }
    added = stream.take_api_job(api)
    assert [e["event"] for e in added] == ["submitted"]
    assert [e["event_id"] for e in stream.events] == [1, 2]
    assert stream.take_api_job(api) == []
