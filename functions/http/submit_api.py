"""The jobs API: ``POST /jobs``, ``GET /jobs?limit=N``, ``GET /jobs/<job_id>``, ``GET /kinds``.

Without an ``Authorization`` header a caller is in the public demo mode (jobs without an
owner, readable by anyone); with a Supabase user access token, the jobs are that user's own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from uuid import UUID

from functions.core import user_tokens, validation
from functions.core.errors import MethodNotAllowed, NotFound
from functions.core.models import Caller
from functions.core.ports import JobStore, KindCatalog
from functions.core.tasks import DEFAULT_KIND
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
    for root in ("jobs", "kinds"):
        if root in parts:
            return parts[parts.index(root) :]
    return parts


class SubmitApi:
    """``kinds`` defaults to the built-in kinds; ``jwt_secret`` (the project's JWT secret)
    empty means user tokens are refused with 401."""

    def __init__(
        self,
        store: JobStore,
        cors_origin: str = "*",
        kinds: KindCatalog | None = None,
        jwt_secret: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if kinds is None:
            from functions.fakes import InMemoryKindCatalog

            kinds = InMemoryKindCatalog.builtin()
        self._store = store
        self._kinds = kinds
        self._jwt_secret = jwt_secret
        self._clock = clock
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
            return self._get(request, route[1])
        if route == ["kinds"]:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{request.method} is not allowed on /kinds; use GET")
            validation.check_query(request.query, ())
            return self._list_kinds()
        raise NotFound("no such resource; the API serves /jobs, /jobs/<job_id> and /kinds")

    def _caller(self, request: HttpRequest) -> Caller | None:
        token = user_tokens.bearer_token(request.header("authorization"))
        if token is None:
            return None
        return user_tokens.verify(token, self._jwt_secret, self._clock())

    def _owner(self, request: HttpRequest) -> UUID | None:
        caller = self._caller(request)
        return caller.user_id if caller else None

    def _submit(self, request: HttpRequest) -> HttpResponse:
        validation.check_query(request.query, ())
        caller = self._caller(request)
        document = validation.parse_json_body(request.body, request.header("content-type"))
        new_job = validation.parse_new_job(document, request.header("idempotency-key"))
        validation.check_kind(new_job, self._kinds.kinds(), DEFAULT_KIND)
        new_job = dataclasses.replace(new_job, owner=caller)
        job_id = self._store.submit(new_job)
        return HttpResponse(
            202,
            {"job_id": str(job_id), "status": "pending"},
            {"Location": f"/jobs/{job_id}"},
        )

    def _list(self, request: HttpRequest) -> HttpResponse:
        validation.check_query(request.query, ("limit",))
        limit = validation.parse_limit(request.query.get("limit"))
        jobs = self._store.newest(limit, self._owner(request))
        return HttpResponse(200, {"jobs": [job.to_json() for job in jobs]})

    def _get(self, request: HttpRequest, raw_id: str) -> HttpResponse:
        job_id = validation.parse_job_id(raw_id)
        # Another user's job is "not found", as RLS would make it: its existence is not told.
        job = self._store.get(job_id, self._owner(request))
        if job is None:
            raise NotFound(f"no job {raw_id}")
        return HttpResponse(200, job.to_json())

    def _list_kinds(self) -> HttpResponse:
        kinds = sorted(self._kinds.kinds().values(), key=lambda k: k.kind)
        return HttpResponse(200, {"kinds": [k.to_json() for k in kinds]})
