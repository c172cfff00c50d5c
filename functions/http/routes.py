"""The HTTP routes each function serves: the one table the jobs API dispatches on and the
deployment's HTTP API routes are generated from (scripts/http_routes.py).

A path is written as API Gateway writes a route (``/jobs/{job_id}``); every path also gets an
``OPTIONS`` route, because the functions answer CORS preflights themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: str  # what the function does for it; the jobs API's method of the same name

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)


SUBMIT_ROUTES: tuple[Route, ...] = (
    Route("POST", "/jobs", "submit"),
    Route("GET", "/jobs", "list"),
    Route("GET", "/jobs/{job_id}", "get"),
    Route("POST", "/jobs/{job_id}/cancel", "cancel"),
    Route("POST", "/jobs/{job_id}/retry", "retry"),
    Route("GET", "/kinds", "kinds"),
    Route("POST", "/schedules", "create_schedule"),
    Route("GET", "/schedules", "list_schedules"),
    Route("POST", "/schedules/{schedule_id}/pause", "pause_schedule"),
    Route("POST", "/schedules/{schedule_id}/resume", "resume_schedule"),
    Route("DELETE", "/schedules/{schedule_id}", "delete_schedule"),
    # The operators' routes (issue 23): the queue's metrics, the failed jobs grouped by kind
    # and error, and a bulk retry of a filter's jobs.
    Route("GET", "/stats", "stats"),
    Route("GET", "/failures", "failures"),
    Route("POST", "/jobs/retry", "retry_many"),
)
WEBHOOK_ROUTES: tuple[Route, ...] = (Route("POST", "/webhook", "webhook"),)
# Which function serves which routes, as deployed behind one HTTP API.
BY_FUNCTION: dict[str, tuple[Route, ...]] = {"submit": SUBMIT_ROUTES, "webhook": WEBHOOK_ROUTES}
# The webhook is called by the database, never by a browser: it needs no preflight.
WITH_PREFLIGHT = frozenset({"submit"})


def paths(routes: Sequence[Route]) -> list[str]:
    """Each distinct path, in the table's order."""
    return list(dict.fromkeys(route.path for route in routes))


def route_keys(function: str) -> list[str]:
    """API Gateway route keys (``METHOD /path``) that ``function`` must be reachable by."""
    routes = BY_FUNCTION[function]
    keys = [f"{route.method} {route.path}" for route in routes]
    if function in WITH_PREFLIGHT:
        keys += [f"OPTIONS {path}" for path in paths(routes)]
    return keys


@dataclass(frozen=True)
class Match:
    route: Route | None  # None: the path exists, the method does not (see ``allowed``)
    params: dict[str, str]
    allowed: tuple[str, ...]


def _bind(route: Route, segments: Sequence[str]) -> dict[str, str] | None:
    if len(route.segments) != len(segments):
        return None
    params: dict[str, str] = {}
    for pattern, segment in zip(route.segments, segments, strict=True):
        if pattern.startswith("{") and pattern.endswith("}"):
            params[pattern[1:-1]] = segment
        elif pattern != segment:
            return None
    return params


def match(routes: Sequence[Route], method: str, segments: Sequence[str]) -> Match | None:
    """The route for ``method`` on ``segments``; None when no route has that path. ``HEAD`` is
    served as ``GET``."""
    wanted = "GET" if method == "HEAD" else method
    allowed: list[str] = []
    params: dict[str, str] | None = None
    for route in routes:
        bound = _bind(route, segments)
        if bound is None:
            continue
        if route.method == wanted:
            return Match(route, bound, ())
        allowed.append(route.method)
        params = bound
    if params is None:
        return None
    return Match(None, params, tuple(allowed))
