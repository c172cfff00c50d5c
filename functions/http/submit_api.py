"""The jobs API: ``POST /jobs``, ``GET /jobs?limit=N&status=S``, ``GET /jobs/<job_id>`` (with
its events), ``POST /jobs/<job_id>/cancel``, ``POST /jobs/<job_id>/retry``, ``GET /kinds``; and
the operators' ``GET /stats`` (the queue's metrics, operators only), ``GET /failures`` (failed
jobs by kind and error) and ``POST /jobs/retry`` (retry a filter's jobs, all or none).

Without an ``Authorization`` header a caller is in the public demo mode (jobs without an
owner, readable by anyone); with a Supabase user access token, the jobs are that user's own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from uuid import UUID

from functions.core import ops_requests, user_tokens, validation
from functions.core.errors import MethodNotAllowed, NotFound, WrongJobState
from functions.core.models import Caller, JobStatus
from functions.core.operations import OpsStore, Scope
from functions.core.ports import JobStore, KindCatalog, ScheduleStore
from functions.core.tasks import DEFAULT_KIND
from functions.http import routes
from functions.http.operators import Operators
from functions.http.routes import SUBMIT_ROUTES
from functions.http.types import HttpRequest, HttpResponse, guarded
from functions.tracing import Span, Tracer, traceparent_of


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
    for root in dict.fromkeys(route.segments[0] for route in SUBMIT_ROUTES):
        if root in parts:
            return parts[parts.index(root) :]
    return parts


class SubmitApi:
    """``kinds`` is the catalog submissions are checked against (public.task_kinds when
    deployed). User tokens are verified with ``signing_keys`` (or, shorter for tests, the
    legacy ``jwt_secret`` alone); with neither, they are refused with 401."""

    def __init__(
        self,
        store: JobStore,
        cors_origin: str = "*",
        *,
        kinds: KindCatalog,
        schedules: ScheduleStore | None = None,
        jwt_secret: str = "",
        clock: Callable[[], float] = time.time,
        signing_keys: user_tokens.SigningKeys | None = None,
        ops: OpsStore | None = None,
        operators: Operators | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._store = store
        self._tracer = tracer or Tracer(on=False)
        self._ops = ops
        self._operators = operators or Operators()
        self._kinds = kinds
        self._schedules = schedules
        if signing_keys is None and jwt_secret:
            signing_keys = user_tokens.LegacySecret(jwt_secret)
        self._keys = signing_keys
        self._clock = clock
        # Every response, errors included, carries CORS: a browser can read why it was refused.
        self.handle = guarded(self._dispatch, cors_headers(cors_origin))

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            return HttpResponse(204)
        found = routes.match(SUBMIT_ROUTES, request.method, _route(request.path))
        if found is None:
            served = ", ".join(routes.paths(SUBMIT_ROUTES)).replace("{job_id}", "<job_id>")
            raise NotFound(f"no such resource; the API serves {served}")
        if found.route is None:
            path = "/" + "/".join(_route(request.path))
            raise MethodNotAllowed(
                f"{request.method} is not allowed on {path}; use {' or '.join(found.allowed)}"
            )
        action = found.route.action
        if action.endswith("_schedule") or action == "list_schedules":
            return self._schedule_action(request, action, found.params.get("schedule_id"))
        if action == "submit":
            return self._submit(request)
        if action == "list":
            return self._list(request)
        if action in ("stats", "failures", "retry_many"):
            return self._operate(action, request)
        validation.check_query(request.query, ())
        if action == "kinds":
            return self._list_kinds()
        raw_id = found.params["job_id"]
        if action == "get":
            return self._get(request, raw_id)
        job_id = validation.parse_job_id(raw_id)
        owner = self._owner(request)
        return self._cancel(job_id, owner) if action == "cancel" else self._retry(job_id, owner)

    def _caller(self, request: HttpRequest) -> Caller | None:
        token = user_tokens.bearer_token(request.header("authorization"))
        if token is None:
            return None
        return user_tokens.verify(token, self._keys, self._clock())

    def _is_operator(self, request: HttpRequest) -> bool:
        bearer = user_tokens.bearer_token(request.header("authorization"))
        return self._operators.is_operator(
            bearer, request.header("apikey"), lambda: self._caller(request)
        )

    def _scope(self, request: HttpRequest) -> Scope:
        """An operator's requests reach every owner's jobs; anyone else's, as for one job."""
        if self._is_operator(request):
            return Scope(owner=None, any_owner=True)
        return Scope(owner=self._owner(request))

    def _operate(self, action: str, request: HttpRequest) -> HttpResponse:
        if self._ops is None:
            raise NotFound("this deployment serves no operators' routes")
        if action == "stats":
            bearer = user_tokens.bearer_token(request.header("authorization"))
            self._operators.require(bearer, request.header("apikey"), lambda: self._caller(request))
            validation.check_query(request.query, ("window",))
            window_s = ops_requests.parse_window(request.query.get("window"))
            return HttpResponse(200, self._ops.metrics(window_s))
        if action == "failures":
            validation.check_query(request.query, ops_requests.FAILURE_QUERY)
            wanted = ops_requests.failure_filter_from_query(request.query)
            limit = ops_requests.parse_group_limit(request.query.get("limit"))
            at, groups = self._ops.failures(self._scope(request), wanted, limit)
            return HttpResponse(
                200,
                {
                    "at": at.isoformat(),
                    "jobs": sum(group.jobs for group in groups),
                    "groups": [group.to_json() for group in groups],
                },
            )
        validation.check_query(request.query, ())
        document = validation.parse_json_body(request.body, request.header("content-type"))
        wanted = ops_requests.failure_filter_from_body(document)
        retried = self._ops.retry_many(self._scope(request), wanted)
        return HttpResponse(200, {"retried": retried})

    def _owner(self, request: HttpRequest) -> UUID | None:
        caller = self._caller(request)
        return caller.user_id if caller else None

    def _submit(self, request: HttpRequest) -> HttpResponse:
        # The job's trace: the caller's (a traceparent header), continued by the submit span,
        # or started by it; stored with the job either way, traced here or not.
        incoming = traceparent_of(request.header("traceparent"))
        with self._tracer.span("submit", incoming, server=True) as span:
            return self._submit_traced(request, span, span.traceparent or incoming)

    def _submit_traced(
        self, request: HttpRequest, span: Span, traceparent: str | None
    ) -> HttpResponse:
        validation.check_query(request.query, ())
        caller = self._caller(request)
        document = validation.parse_json_body(request.body, request.header("content-type"))
        if isinstance(document, list):
            batch = validation.parse_new_jobs(document, request.header("idempotency-key"))
            batch = validation.check_kinds(batch, self._kinds.kinds(), DEFAULT_KIND)
            job_ids = self._store.submit_many(
                dataclasses.replace(batch, owner=caller, traceparent=traceparent)
            )
            span.set(jobs=len(job_ids))
            return HttpResponse(
                202, {"job_ids": [str(job_id) for job_id in job_ids], "status": "pending"}
            )
        new_job = validation.parse_new_job(document, request.header("idempotency-key"))
        new_job = validation.check_kind(new_job, self._kinds.kinds(), DEFAULT_KIND)
        new_job = dataclasses.replace(new_job, owner=caller, traceparent=traceparent)
        if new_job.flow is not None:
            job_id, deduplicated = self._store.submit_flow(new_job)
            if deduplicated:
                # The owner's unfinished job with this dedup key: nothing new was stored.
                job = self._store.get(job_id, caller.user_id if caller else None)
                return HttpResponse(
                    200,
                    {
                        "job_id": str(job_id),
                        "status": job.status.value if job is not None else "pending",
                        "deduplicated": True,
                    },
                    {"Location": f"/jobs/{job_id}", "Supajobs-Deduplicated": "true"},
                )
        else:
            job_id = self._store.submit(new_job)
        span.set(job_id=job_id, kind=new_job.kind)
        delayed = new_job.run_at is not None or bool(new_job.delay_s) or new_job.flow is not None
        job = self._store.get(job_id, caller.user_id if caller else None) if delayed else None
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
        jobs = self._store.newest(limit, status, self._owner(request))
        return HttpResponse(200, {"jobs": [job.to_json() for job in jobs]})

    def _get(self, request: HttpRequest, raw_id: str) -> HttpResponse:
        job_id = validation.parse_job_id(raw_id)
        owner = self._owner(request)
        # Another user's job is "not found", as RLS would make it: its existence is not told.
        job = self._store.get(job_id, owner)
        if job is None:
            raise NotFound(f"no job {raw_id}")
        events = [event.to_json() for event in self._store.events(job_id, owner)]
        waiting = None
        if job.status in (JobStatus.PENDING, JobStatus.SCHEDULED):
            waiting = self._store.wait_reason(job_id, owner)
        return HttpResponse(200, {**job.to_json(), "events": events, "waiting": waiting})

    def _cancel(self, job_id: UUID, owner: UUID | None) -> HttpResponse:
        # Scoped like get: another user's job (or an owned one, for an anonymous caller) is
        # "not found" and left alone.
        before = self._store.cancel(job_id, owner)
        if before is None:
            raise NotFound(f"no job {job_id}")
        if before in (JobStatus.COMPLETED, JobStatus.FAILED):
            raise WrongJobState(f"the job has already {before.value}; there is nothing to cancel")
        job = self._store.get(job_id, owner)
        body = job.to_json() if job is not None else {"job_id": str(job_id)}
        # 202 while a running job's worker has yet to stop it; 200 once it is cancelled.
        return HttpResponse(202 if before == JobStatus.RUNNING else 200, body)

    def _retry(self, job_id: UUID, owner: UUID | None) -> HttpResponse:
        before = self._store.retry(job_id, owner)
        if before is None:
            raise NotFound(f"no job {job_id}")
        if not before.retryable:
            raise WrongJobState(
                f"only a failed or cancelled job can be retried; this one is {before.value}"
            )
        job = self._store.get(job_id, owner)
        return HttpResponse(202, job.to_json() if job is not None else {"job_id": str(job_id)})

    def _schedule_action(
        self, request: HttpRequest, action: str, raw_id: str | None
    ) -> HttpResponse:
        if self._schedules is None:
            raise NotFound("schedules are not served here")
        caller = self._caller(request)
        if action == "create_schedule":
            validation.check_query(request.query, ())
            document = validation.parse_json_body(request.body, request.header("content-type"))
            schedule = validation.parse_new_schedule(document)
            schedule = dataclasses.replace(schedule, owner=caller)
            schedule_id = self._schedules.create_schedule(schedule)
            listed = {s["schedule_id"]: s for s in self._schedules.list_schedules(caller)}
            return HttpResponse(
                201,
                listed.get(str(schedule_id), {"schedule_id": str(schedule_id)}),
                {"Location": f"/schedules/{schedule_id}"},
            )
        validation.check_query(request.query, ())
        if action == "list_schedules":
            return HttpResponse(200, {"schedules": self._schedules.list_schedules(caller)})
        schedule_id = validation.parse_schedule_id(raw_id or "")
        if action == "delete_schedule":
            found = self._schedules.delete_schedule(schedule_id, caller)
        else:
            paused = action == "pause_schedule"
            found = self._schedules.pause_schedule(schedule_id, paused, caller)
        if not found:
            raise NotFound(f"no schedule {schedule_id}")
        if action == "delete_schedule":
            return HttpResponse(200, {"schedule_id": str(schedule_id), "deleted": True})
        listed = {s["schedule_id"]: s for s in self._schedules.list_schedules(caller)}
        return HttpResponse(200, listed.get(str(schedule_id), {"schedule_id": str(schedule_id)}))

    def _list_kinds(self) -> HttpResponse:
        kinds = sorted(self._kinds.kinds().values(), key=lambda k: k.kind)
        # The default is the registry's, the one place it is written: the page and clients
        # read it here rather than keep their own copy.
        return HttpResponse(200, {"kinds": [k.to_json() for k in kinds], "default": DEFAULT_KIND})
