"""The jobs API: ``POST /jobs``, ``GET /jobs?limit=N&status=S``, ``GET /jobs/<job_id>`` (with
its events), ``POST /jobs/<job_id>/cancel`` and ``POST /jobs/<job_id>/retry``."""

from __future__ import annotations

from uuid import UUID

from functions.core import validation
from functions.core.errors import MethodNotAllowed, NotFound, WrongJobState
from functions.core.models import JobStatus
from functions.core.ports import JobStore
from functions.http.types import HttpRequest, HttpResponse, guarded


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key, Authorization, apikey",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _route(path: str) -> list[str]:
    """The path's segments from ``jobs`` on, whatever prefix a gateway or stage adds."""
    parts = [p for p in path.split("/") if p]
    return parts[parts.index("jobs") :] if "jobs" in parts else parts


class SubmitApi:
    def __init__(self, store: JobStore, cors_origin: str = "*") -> None:
        self._store = store
        # Every response, errors included, carries CORS: a browser can read why it was refused.
        self.handle = guarded(self._dispatch, cors_headers(cors_origin))

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        route = _route(request.path)
        if request.method == "OPTIONS":
            return HttpResponse(204)
        if route == ["jobs"]:
            if request.method == "POST":
                return self._submit(request)
            if request.method in ("GET", "HEAD"):
                return self._list(request)
            raise MethodNotAllowed(f"{request.method} is not allowed on /jobs; use GET or POST")
        if len(route) == 2 and route[0] == "jobs":
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{request.method} is not allowed on a job; use GET")
            validation.check_query(request.query, ())
            return self._get(route[1])
        if len(route) == 3 and route[0] == "jobs" and route[2] in ("cancel", "retry"):
            if request.method != "POST":
                raise MethodNotAllowed(f"{request.method} is not allowed on {route[2]}; use POST")
            validation.check_query(request.query, ())
            job_id = validation.parse_job_id(route[1])
            return self._cancel(job_id) if route[2] == "cancel" else self._retry(job_id)
        raise NotFound(
            "no such resource; the API serves /jobs, /jobs/<job_id>,"
            " /jobs/<job_id>/cancel and /jobs/<job_id>/retry"
        )

    def _submit(self, request: HttpRequest) -> HttpResponse:
        validation.check_query(request.query, ())
        document = validation.parse_json_body(request.body, request.header("content-type"))
        if isinstance(document, list):
            batch = validation.parse_new_jobs(document, request.header("idempotency-key"))
            job_ids = self._store.submit_many(batch)
            return HttpResponse(
                202, {"job_ids": [str(job_id) for job_id in job_ids], "status": "pending"}
            )
        new_job = validation.parse_new_job(document, request.header("idempotency-key"))
        job_id = self._store.submit(new_job)
        delayed = new_job.run_at is not None or bool(new_job.delay_s)
        job = self._store.get(job_id) if delayed else None
        status = job.status.value if job is not None else "pending"
        return HttpResponse(
            202,
            {"job_id": str(job_id), "status": status},
            {"Location": f"/jobs/{job_id}"},
        )

    def _list(self, request: HttpRequest) -> HttpResponse:
        validation.check_query(request.query, ("limit", "status"))
        limit = validation.parse_limit(request.query.get("limit"))
        status = validation.parse_status(request.query.get("status"))
        jobs = self._store.newest(limit, status)
        return HttpResponse(200, {"jobs": [job.to_json() for job in jobs]})

    def _get(self, raw_id: str) -> HttpResponse:
        job_id = validation.parse_job_id(raw_id)
        job = self._store.get(job_id)
        if job is None:
            raise NotFound(f"no job {raw_id}")
        events = [event.to_json() for event in self._store.events(job_id)]
        return HttpResponse(200, {**job.to_json(), "events": events})

    def _cancel(self, job_id: UUID) -> HttpResponse:
        before = self._store.cancel(job_id)
        if before is None:
            raise NotFound(f"no job {job_id}")
        if before in (JobStatus.COMPLETED, JobStatus.FAILED):
            raise WrongJobState(f"the job has already {before.value}; there is nothing to cancel")
        job = self._store.get(job_id)
        body = job.to_json() if job is not None else {"job_id": str(job_id)}
        # 202 while a running job's worker has yet to stop it; 200 once it is cancelled.
        return HttpResponse(202 if before == JobStatus.RUNNING else 200, body)

    def _retry(self, job_id: UUID) -> HttpResponse:
        before = self._store.retry(job_id)
        if before is None:
            raise NotFound(f"no job {job_id}")
        if not before.retryable:
            raise WrongJobState(
                f"only a failed or cancelled job can be retried; this one is {before.value}"
            )
        job = self._store.get(job_id)
        return HttpResponse(202, job.to_json() if job is not None else {"job_id": str(job_id)})
