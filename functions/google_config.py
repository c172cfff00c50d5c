"""Settings that only a deployment on Google Cloud Run functions sets, read from the environment
beside functions.config's (which stay as they are for the local and AWS paths)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from functions.cloud_tasks import MAX_DISPATCH_DEADLINE_S, TaskTarget
from functions.config import ConfigError
from functions.http.id_tokens import GOOGLE_CERTS_URL, IdTokenPolicy

AUTH_MODES = ("bearer", "google-id-token", "cloud-run-iam")
# Cloud Run functions let an HTTP function run up to 60 minutes.
MAX_FUNCTION_TIMEOUT_S = 3600


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of seconds, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def task_target(env: Mapping[str, str] = os.environ) -> TaskTarget | None:
    """The webhook's Cloud Tasks hand-off, when ``CLOUD_TASKS_QUEUE`` is set; else None."""
    queue = env.get("CLOUD_TASKS_QUEUE", "").strip()
    if not queue:
        return None
    url = env.get("PROCESS_JOB_URL", "").strip()
    account = env.get("PROCESS_JOB_INVOKER_SERVICE_ACCOUNT", "").strip()
    if not url or not account:
        raise ConfigError(
            "with CLOUD_TASKS_QUEUE set, PROCESS_JOB_URL (the task's URL and the token's"
            " audience) and PROCESS_JOB_INVOKER_SERVICE_ACCOUNT (whose OIDC token it carries)"
            " are needed"
        )
    deadline = _int(env, "CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS", MAX_DISPATCH_DEADLINE_S, 15, 1800)
    try:
        return TaskTarget(queue, url, account, deadline)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def tasks_endpoint(env: Mapping[str, str] = os.environ) -> str | None:
    """A Cloud Tasks stand-in or emulator to use instead of Google's (tests, local runs)."""
    return env.get("CLOUD_TASKS_ENDPOINT", "").strip() or None


def caller_policy(env: Mapping[str, str] = os.environ) -> IdTokenPolicy | None:
    """How process_job checks its caller: None for the local bearer secret (the default)."""
    mode = env.get("PROCESS_JOB_AUTH", "bearer").strip() or "bearer"
    if mode not in AUTH_MODES:
        raise ConfigError(f"PROCESS_JOB_AUTH must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
    if mode == "bearer":
        return None
    audience = env.get("PROCESS_JOB_AUDIENCE", "").strip()
    accounts = frozenset(
        a.strip() for a in env.get("PROCESS_JOB_CALLERS", "").replace(",", " ").split() if a
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
        certs_url=env.get("GOOGLE_CERTS_URL", "").strip() or GOOGLE_CERTS_URL,
    )


def invocation_limit_s(env: Mapping[str, str] = os.environ) -> int | None:
    """How long the platform lets one call of process_job run: the shorter of
    ``PROCESS_JOB_TIMEOUT_SECONDS`` (the deploy sets it to the Cloud Tasks dispatch deadline
    and Cloud Scheduler's attempt deadline) and ``CLOUD_RUN_TIMEOUT_SECONDS`` (the function's
    timeout, which Cloud Run sets and functions-framework also reads); None when neither is
    set, as locally."""
    limits = [
        _int(env, name, 0, 1, MAX_FUNCTION_TIMEOUT_S)
        for name in ("PROCESS_JOB_TIMEOUT_SECONDS", "CLOUD_RUN_TIMEOUT_SECONDS")
        if env.get(name, "").strip()
    ]
    return min(limits) if limits else None
