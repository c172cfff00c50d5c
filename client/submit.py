"""Submitting through the ``submit`` function's HTTP API."""

from __future__ import annotations

from typing import Any

import httpx


class SubmitError(RuntimeError):
    """The API refused the job (4xx) or could not take it (5xx, unreachable)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _error(response: httpx.Response) -> SubmitError:
    try:
        error = response.json()["error"]
        return SubmitError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return SubmitError(response.status_code, "http_error", response.text[:200])


def _authorization(access_token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"} if access_token else {}


def submit_job(
    functions_url: str,
    task_name: str,
    kind: str | None = None,
    payload: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    timeout_s: float = 30.0,
    delay_s: float | None = None,
    access_token: str | None = None,
    flow: dict[str, Any] | None = None,
) -> str:
    """POST /jobs; the new job's id. With a user's ``access_token`` the job is theirs. ``flow``
    holds flow control's fields (priority, concurrency_key, concurrency_limit, dedup_key,
    debounce_seconds); with a dedup key the answer may be an unfinished job's id (200)."""
    body: dict[str, Any] = {"task_name": task_name}
    if kind:
        body["kind"] = kind
    if payload is not None:
        body["payload"] = payload
    if delay_s is not None:
        body["delay_seconds"] = delay_s
    body.update({name: value for name, value in (flow or {}).items() if value is not None})
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    headers.update(_authorization(access_token))
    try:
        response = httpx.post(
            f"{functions_url.rstrip('/')}/jobs", json=body, headers=headers, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise SubmitError(0, "unreachable", f"could not reach {functions_url}: {exc}") from None
    if response.status_code not in (200, 202):
        raise _error(response)
    return str(response.json()["job_id"])


def list_kinds(functions_url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """GET /kinds: each kind with its payload schema, time limit and flow-control settings."""
    try:
        response = httpx.get(f"{functions_url.rstrip('/')}/kinds", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise SubmitError(0, "unreachable", f"could not reach {functions_url}: {exc}") from None
    if response.status_code != 200:
        raise _error(response)
    result: dict[str, Any] = response.json()
    return result


def get_job(
    functions_url: str, job_id: str, timeout_s: float = 30.0, access_token: str | None = None
) -> dict[str, Any]:
    """GET /jobs/<job_id> (a user's own job needs their ``access_token``)."""
    try:
        response = httpx.get(
            f"{functions_url.rstrip('/')}/jobs/{job_id}",
            headers=_authorization(access_token),
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise SubmitError(0, "unreachable", f"could not reach {functions_url}: {exc}") from None
    if response.status_code != 200:
        raise _error(response)
    result: dict[str, Any] = response.json()
    return result


def steer_job(
    functions_url: str,
    job_id: str,
    action: str,
    timeout_s: float = 30.0,
    access_token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST /jobs/<job_id>/cancel or /retry; the answer's status and the job (a user's own
    job needs their ``access_token``)."""
    try:
        response = httpx.post(
            f"{functions_url.rstrip('/')}/jobs/{job_id}/{action}",
            headers=_authorization(access_token),
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise SubmitError(0, "unreachable", f"could not reach {functions_url}: {exc}") from None
    if response.status_code not in (200, 202):
        raise _error(response)
    result: dict[str, Any] = response.json()
    return response.status_code, result


def schedules_call(
    functions_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    timeout_s: float = 30.0,
    access_token: str | None = None,
) -> dict[str, Any]:
    """One call of the schedules API (``/schedules...``); its JSON answer."""
    try:
        response = httpx.request(
            method,
            f"{functions_url.rstrip('/')}{path}",
            json=body,
            headers=_authorization(access_token),
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise SubmitError(0, "unreachable", f"could not reach {functions_url}: {exc}") from None
    if response.status_code not in (200, 201):
        raise _error(response)
    result: dict[str, Any] = response.json()
    return result
