"""The ``webhook`` function: verifies the database's signed call and invokes process_job
asynchronously. Imports neither the database driver nor the task code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.adapters.entry import Entry
from functions.http.types import Handler

if TYPE_CHECKING:
    import flask


def _build() -> Handler:
    from functions.config import WebhookConfig
    from functions.core.ports import Invoker
    from functions.http.webhook_api import WebhookApi
    from functions.invokers import HttpInvoker, LambdaInvoker

    cfg = WebhookConfig.from_env()
    invoker: Invoker
    if cfg.process_job_function:
        invoker = LambdaInvoker(cfg.process_job_function)
    else:
        assert cfg.process_job_url is not None
        invoker = HttpInvoker(cfg.process_job_url, cfg.process_job_secret)
    from functions.tracing import Tracer

    return WebhookApi(cfg.keys, invoker, cfg.tolerance_s, tracer=Tracer()).handle


_entry = Entry(_build)


def webhook(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _entry.flask(request)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _entry.lambda_http(event)
