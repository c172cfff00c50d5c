"""Settings that only a deployment on Google Cloud Run functions sets: one object for the
webhook (its Cloud Tasks hand-off) and one for process_job (how it checks its callers and how
long the platform lets it run), beside functions.config's (the local and AWS paths)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from functions.cloud_tasks import MAX_DISPATCH_DEADLINE_S, TaskTarget
from functions.config import PROCESS_JOB_URL, ConfigError
from functions.env import Settings, Var
from functions.http.id_tokens import GOOGLE_CERTS_URL, IdTokenPolicy

AUTH_MODES = ("bearer", "google-id-token", "cloud-run-iam")
# Cloud Run functions let an HTTP function run up to 60 minutes.
MAX_FUNCTION_TIMEOUT_S = 3600

CLOUD_TASKS_QUEUE = Var(
    "CLOUD_TASKS_QUEUE",
    "The Cloud Tasks queue the webhook hands each wake-up to (Google Cloud; required there).",
    example="projects/<project>/locations/<region>/queues/supajobs-wakeups",
)
PROCESS_JOB_INVOKER_SERVICE_ACCOUNT = Var(
    "PROCESS_JOB_INVOKER_SERVICE_ACCOUNT",
    "The service account whose OIDC token each Cloud Task carries to process_job.",
    example="supajobs-invoker@<project>.iam.gserviceaccount.com",
)
CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS = Var(
    "CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS",
    "How long Cloud Tasks waits for process_job's answer (15 to 1800).",
    default=str(MAX_DISPATCH_DEADLINE_S),
    example="900",
)
CLOUD_TASKS_ENDPOINT = Var(
    "CLOUD_TASKS_ENDPOINT",
    "A Cloud Tasks stand-in or emulator to call instead of Google's (tests, local runs).",
    example="http://127.0.0.1:8123",
)
PROCESS_JOB_AUTH = Var(
    "PROCESS_JOB_AUTH",
    "How process_job checks its caller: bearer (the local secret), google-id-token (verify"
    " Google's signature) or cloud-run-iam (Cloud Run checked it; read the claims).",
    default="bearer",
    example="google-id-token",
)
PROCESS_JOB_AUDIENCE = Var(
    "PROCESS_JOB_AUDIENCE",
    "The audience process_job's ID tokens must carry (its URL).",
    example="https://<region>-<project>.cloudfunctions.net/process_job",
)
PROCESS_JOB_CALLERS = Var(
    "PROCESS_JOB_CALLERS",
    "The service accounts (space- or comma-separated) Cloud Tasks and Cloud Scheduler sign as.",
    example="supajobs-invoker@<project>.iam.gserviceaccount.com",
)
GOOGLE_CERTS_URL_VAR = Var(
    "GOOGLE_CERTS_URL",
    "Where Google's ID-token signing keys are fetched (tests point it at a stand-in).",
    default=GOOGLE_CERTS_URL,
)
PROCESS_JOB_TIMEOUT_SECONDS = Var(
    "PROCESS_JOB_TIMEOUT_SECONDS",
    "How long one call of process_job may run as its callers see it (the deploy sets the Cloud"
    " Tasks dispatch deadline and Cloud Scheduler's attempt deadline).",
    example="900",
)
CLOUD_RUN_TIMEOUT_SECONDS = Var(
    "CLOUD_RUN_TIMEOUT_SECONDS",
    "The function's timeout, set by Cloud Run (functions-framework reads it too).",
    example="1800",
)


def _int(env: Mapping[str, str], var: Var, low: int, high: int) -> int:
    raw = env.get(var.name, "").strip()
    try:
        value = int(raw or var.default)
    except ValueError:
        raise ConfigError(f"{var.name} must be a whole number of seconds, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{var.name} must be between {low} and {high}, not {value}")
    return value


@dataclass(frozen=True)
class GoogleWebhookConfig(Settings):
    """The webhook's Cloud Tasks hand-off (``target`` None when CLOUD_TASKS_QUEUE is unset)."""

    READER: ClassVar[str] = "webhook (Google Cloud)"
    READS: ClassVar[tuple[Var, ...]] = (
        CLOUD_TASKS_QUEUE,
        PROCESS_JOB_URL,
        PROCESS_JOB_INVOKER_SERVICE_ACCOUNT,
        CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS,
        CLOUD_TASKS_ENDPOINT,
    )

    target: TaskTarget | None
    tasks_endpoint: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GoogleWebhookConfig:
        return cls(_task_target(env), CLOUD_TASKS_ENDPOINT.get(env) or None)


def _task_target(env: Mapping[str, str]) -> TaskTarget | None:
    queue = CLOUD_TASKS_QUEUE.get(env)
    if not queue:
        return None
    url = PROCESS_JOB_URL.get(env)
    account = PROCESS_JOB_INVOKER_SERVICE_ACCOUNT.get(env)
    if not url or not account:
        raise ConfigError(
            "with CLOUD_TASKS_QUEUE set, PROCESS_JOB_URL (the task's URL and the token's"
            " audience) and PROCESS_JOB_INVOKER_SERVICE_ACCOUNT (whose OIDC token it carries)"
            " are needed"
        )
    deadline = _int(env, CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS, 15, 1800)
    try:
        return TaskTarget(queue, url, account, deadline)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class GoogleProcessJobConfig(Settings):
    """How process_job checks its callers (``caller_policy`` None: the local bearer secret)
    and how long the platform lets one call run (``invocation_limit_s`` None: no limit known,
    as locally)."""

    READER: ClassVar[str] = "process_job (Google Cloud)"
    READS: ClassVar[tuple[Var, ...]] = (
        PROCESS_JOB_AUTH,
        PROCESS_JOB_AUDIENCE,
        PROCESS_JOB_CALLERS,
        GOOGLE_CERTS_URL_VAR,
        PROCESS_JOB_TIMEOUT_SECONDS,
        CLOUD_RUN_TIMEOUT_SECONDS,
    )

    caller_policy: IdTokenPolicy | None
    invocation_limit_s: int | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GoogleProcessJobConfig:
        return cls(_caller_policy(env), _invocation_limit_s(env))


def _caller_policy(env: Mapping[str, str]) -> IdTokenPolicy | None:
    mode = PROCESS_JOB_AUTH.get(env)
    if mode not in AUTH_MODES:
        raise ConfigError(f"PROCESS_JOB_AUTH must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
    if mode == "bearer":
        return None
    audience = PROCESS_JOB_AUDIENCE.get(env)
    accounts = frozenset(
        a.strip() for a in PROCESS_JOB_CALLERS.get(env).replace(",", " ").split() if a
    )
    if not audience or not accounts:
        raise ConfigError(
            f"PROCESS_JOB_AUTH={mode} needs PROCESS_JOB_AUDIENCE (process_job's URL) and"
            " PROCESS_JOB_CALLERS (the service accounts Cloud Tasks and Cloud Scheduler sign as)"
        )
    return IdTokenPolicy(
        audience=audience,
        service_accounts=accounts,
        verify_signature=mode == "google-id-token",
        certs_url=GOOGLE_CERTS_URL_VAR.get(env),
    )


def _invocation_limit_s(env: Mapping[str, str]) -> int | None:
    """The shorter of ``PROCESS_JOB_TIMEOUT_SECONDS`` and ``CLOUD_RUN_TIMEOUT_SECONDS``."""
    limits = [
        _int(env, var, 1, MAX_FUNCTION_TIMEOUT_S)
        for var in (PROCESS_JOB_TIMEOUT_SECONDS, CLOUD_RUN_TIMEOUT_SECONDS)
        if var.get(env)
    ]
    return min(limits) if limits else None
