"""The ``submit`` function: the jobs API. Target ``submit`` (functions-framework) and
``handler`` (AWS Lambda, HTTP API v2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.adapters.entry import Entry
from functions.http.types import Handler

if TYPE_CHECKING:
    import flask


def _build() -> Handler:
    from functions import config
    from functions.db.store import PgJobStore, PgKindCatalog
    from functions.http.submit_api import SubmitApi

    url = config.database_url()
    return SubmitApi(
        PgJobStore(url),
        config.cors_origin(),
        kinds=PgKindCatalog(url),
        jwt_secret=config.jwt_secret(),
    ).handle


_entry = Entry(_build)


def submit(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _entry.flask(request)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _entry.lambda_http(event)
