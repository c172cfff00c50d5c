"""The ``submit`` function: the jobs API. Target ``submit`` (functions-framework) and
``handler`` (AWS Lambda, HTTP API v2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.adapters.entry import Entry
from functions.http.types import Handler

if TYPE_CHECKING:
    import flask


def _build() -> Handler:
    from functions.config import SubmitConfig
    from functions.db.ops_store import PgOpsStore
    from functions.db.store import PgJobStore, PgKindCatalog
    from functions.http.operators import Operators
    from functions.http.submit_api import SubmitApi
    from functions.jwks import ProjectKeys, jwks_url
    from functions.tracing import Tracer

    cfg = SubmitConfig.from_env()
    project_url, legacy_secret = cfg.supabase_url, cfg.jwt_secret
    # User tokens: asymmetric ones through the project's JWKS, HS256 through the legacy
    # secret; with neither configured, the public demo mode only.
    keys = (
        ProjectKeys(jwks_url(project_url) if project_url else None, legacy_secret)
        if project_url or legacy_secret
        else None
    )
    store = PgJobStore(cfg.database)
    return SubmitApi(
        store,
        cfg.cors_origin,
        kinds=PgKindCatalog(cfg.database),
        schedules=store,
        signing_keys=keys,
        ops=PgOpsStore(cfg.database),
        operators=Operators.from_env(),
        tracer=Tracer(),
    ).handle


_entry = Entry(_build)


def submit(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _entry.flask(request)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _entry.lambda_http(event)
