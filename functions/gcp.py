"""The three functions as Google Cloud Run functions targets, which main.py exposes: the same
handlers as locally and on AWS, with the webhook handing off through Cloud Tasks and process_job
checking its callers' Google ID tokens. Kept apart from the per-function modules so nothing of
Google's is in the Lambda packages' import closure."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from functions.adapters.entry import Entry
from functions.env import Settings, Var
from functions.http.types import Handler
from functions.submit import submit

if TYPE_CHECKING:
    import flask

__all__ = ["process_job", "submit", "webhook"]

FUNCTION_TARGET = Var(
    "FUNCTION_TARGET",
    "Set by Cloud Run functions: the target this instance serves (main.py's submit, webhook or"
    " process_job).",
    example="webhook",
)


@dataclass(frozen=True)
class Instance(Settings):
    """What Cloud Run says about the instance before its first request."""

    READER: ClassVar[str] = "main.py (Google Cloud)"
    READS: ClassVar[tuple[Var, ...]] = (FUNCTION_TARGET,)

    target: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Instance:
        return cls(FUNCTION_TARGET.get(env))


def _build_webhook() -> Handler:
    from functions.cloud_tasks import CloudTasksInvoker
    from functions.config import ConfigError, WebhookConfig
    from functions.google_config import GoogleWebhookConfig
    from functions.http.webhook_api import WebhookApi

    cfg = WebhookConfig.from_env()
    google = GoogleWebhookConfig.from_env()
    target = google.target
    if target is None:
        # The local HTTP invoker works after the response, which Cloud Run's CPU throttling
        # may delay or lose: on Google the hand-off is a Cloud Task or nothing.
        raise ConfigError("set CLOUD_TASKS_QUEUE: on Google Cloud the webhook hands off to it")
    invoker = CloudTasksInvoker(target, endpoint=google.tasks_endpoint)
    return WebhookApi(cfg.keys, invoker, cfg.tolerance_s).handle


def _build_process_job() -> Handler:
    from functions.config import ConfigError
    from functions.google_config import GoogleProcessJobConfig
    from functions.http.id_tokens import IdTokenVerifier
    from functions.process_job import http_handler

    google = GoogleProcessJobConfig.from_env()
    policy = google.caller_policy
    if policy is None:
        raise ConfigError(
            "PROCESS_JOB_AUTH must be google-id-token or cloud-run-iam: on Google Cloud"
            " process_job is called with ID tokens"
        )
    return http_handler(IdTokenVerifier(policy).require, google.invocation_limit_s)


_webhook = Entry(_build_webhook)
_process_job = Entry(_build_process_job)

# Cloud Run imports main.py before the instance takes its first request, and names the target
# it serves in FUNCTION_TARGET. Loading the Cloud Tasks client costs 0.5-2 s (gRPC comes with
# it, even for the REST transport): the webhook's instance pays that while starting, not inside
# a wake-up that pg_net gives 5 s; the other two never load it.
if Instance.from_env().target == "webhook":
    import google.cloud.tasks_v2  # noqa: F401


def webhook(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _webhook.flask(request)


def process_job(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    return _process_job.flask(request)
