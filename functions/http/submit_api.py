"""The jobs API: ``POST /jobs``, ``GET /jobs?limit=N``, ``GET /jobs/<job_id>``."""

from __future__ import annotations

from functions.core import validation
from functions.core.errors import MethodNotAllowed, NotFound
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
        raise NotFound("no such resource; the API serves /jobs and /jobs/<job_id>")

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
        return HttpResponse(
            202,
            {"job_id": str(job_id), "status": "pending"},
            {"Location": f"/jobs/{job_id}"},
        )

    def _list(self, request: HttpRequest) -> HttpResponse:
        validation.check_query(request.query, ("limit",))
        limit = validation.parse_limit(request.query.get("limit"))
        return HttpResponse(200, {"jobs": [job.to_json() for job in self._store.newest(limit)]})

    def _get(self, raw_id: str) -> HttpResponse:
        job = self._store.get(validation.parse_job_id(raw_id))
        if job is None:
            raise NotFound(f"no job {raw_id}")
        return HttpResponse(200, job.to_json())
