"""The operators' commands: ``stats`` (GET /stats), ``failures`` (GET /failures) and
``retry-failed`` (POST /jobs/retry), and how their answers print."""

from __future__ import annotations

from typing import Any

import httpx

from client.submit import SubmitError, _error

STATUSES = ("pending", "scheduled", "running")
FINISHED = ("completed", "failed", "cancelled")


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def call(
    method: str,
    functions_url: str,
    path: str,
    token: str | None,
    *,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    try:
        response = httpx.request(
            method,
            f"{functions_url.rstrip('/')}{path}",
            headers=_headers(token),
            params=params,
            json=body,
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise SubmitError(0, "unreachable", f"could not reach {functions_url}: {exc}") from None
    if response.status_code != 200:
        raise _error(response)
    answer: dict[str, Any] = response.json()
    return answer


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    seconds = float(value)
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def _rate(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def stats_table(metrics: dict[str, Any]) -> str:
    """One line per kind and one for all: what an on-call engineer looks at first."""
    header = (
        f"{'kind':16} {'pending':>8} {'sched':>6} {'running':>8} {'oldest':>8} {'start/m':>8}"
        f" {'done/m':>8} {'fail%':>6} {'wait50':>7} {'wait95':>7} {'run50':>7} {'run95':>7}"
    )
    lines = [f"window {metrics['window_s']}s at {metrics['at']}", header]
    rows = [*sorted(metrics["kinds"].items()), ("(all)", metrics["overall"])]
    for kind, m in rows:
        depth = m["depth"]
        lines.append(
            f"{kind[:16]:16} {depth['pending']:>8} {depth['scheduled']:>6} {depth['running']:>8}"
            f" {_seconds(m['oldest_waiting_s']):>8} {m['starts_per_min']:>8}"
            f" {m['finishes_per_min']:>8} {_rate(m['failure_rate']):>6}"
            f" {_seconds(m['wait_s']['p50']):>7} {_seconds(m['wait_s']['p95']):>7}"
            f" {_seconds(m['run_s']['p50']):>7} {_seconds(m['run_s']['p95']):>7}"
        )
    wake = metrics["wake_ups"]
    lines.append(f"wake-ups sent {wake['sent']}, taken {wake['taken']} (last {wake['kept_s']}s)")
    return "\n".join(lines)


def failures_table(answer: dict[str, Any]) -> str:
    lines = [f"{answer['jobs']} failed jobs at {answer['at']}"]
    for group in answer["groups"]:
        lines.append(
            f"{group['jobs']:>6}  {group['kind']:16} {group['last_at'][:19]}  {group['error'][:80]}"
        )
    return "\n".join(lines)
