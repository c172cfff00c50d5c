"""Configuration, read once per cold start from the environment into frozen values.

Each function reads only what it needs, so ``webhook`` runs without a database URL and
``submit`` without a webhook secret. The two secrets (``DATABASE_URL``, ``WEBHOOK_SECRET``) are
each taken from exactly one of ``NAME_SSM_PARAMETER`` (a SecureString parameter's name, read
with decryption), ``NAME_SECRET_ARN`` (a Secrets Manager secret) or ``NAME`` itself (the value,
for local runs). Deployed, only the first two are set, so no value is in the template or the
function's configuration; callers build their configuration once per process (functions.once),
so each secret is fetched once per instance.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from functions import secrets

SSM_SUFFIX = "_SSM_PARAMETER"
SECRETS_MANAGER_SUFFIX = "_SECRET_ARN"


JWT_SECRET = "SUPABASE_JWT_SECRET"  # noqa: S105  # the variable's name, not a secret


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def secret(env: Mapping[str, str], name: str, purpose: str) -> str:
    """The secret ``name`` from the one source ``env`` names (the raw string, unparsed)."""
    sources = {
        suffix: env.get(name + suffix, "").strip()
        for suffix in (SSM_SUFFIX, SECRETS_MANAGER_SUFFIX, "")
    }
    given = [name + suffix for suffix, value in sources.items() if value]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} are set: set one, so {name} has one source")
    try:
        if sources[SSM_SUFFIX]:
            value = secrets.from_ssm(sources[SSM_SUFFIX])
        elif sources[SECRETS_MANAGER_SUFFIX]:
            value = secrets.from_secrets_manager(sources[SECRETS_MANAGER_SUFFIX])
        else:
            value = sources[""]
    except secrets.SecretUnreadable as exc:
        raise ConfigError(f"{name}: {exc}") from None
    value = value.strip()
    if not value:
        raise ConfigError(
            f"{name} is not set: it is needed {purpose} (set {name}{SSM_SUFFIX},"
            f" {name}{SECRETS_MANAGER_SUFFIX} or, for local runs, {name})"
        )
    return value


def jwt_secret(env: Mapping[str, str] = os.environ) -> str:
    """The project's JWT secret (``SUPABASE_JWT_SECRET``), which signs user access tokens; ""
    when unset (every source), and the jobs API then serves the public demo mode only."""
    names = [JWT_SECRET + suffix for suffix in ("", SSM_SUFFIX, SECRETS_MANAGER_SUFFIX)]
    if not any(env.get(name, "").strip() for name in names):
        return ""
    return secret(env, JWT_SECRET, "to verify user access tokens")


def supabase_url(env: Mapping[str, str] = os.environ) -> str:
    """The project's URL (``SUPABASE_URL``, https://<ref>.supabase.co); "" when unset."""
    url = env.get("SUPABASE_URL", "").strip().rstrip("/")
    if url and urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ConfigError(f"SUPABASE_URL must be an http(s) URL, not {url!r}")
    return url


def database_url(env: Mapping[str, str] = os.environ) -> str:
    url = secret(env, "DATABASE_URL", "to reach the jobs database")
    behind_transaction_pooler(url, env)  # a malformed DATABASE_POOLER fails at cold start
    return url


def pool_max_size(env: Mapping[str, str] = os.environ) -> int:
    """Connections one process's pool may hold (1 on Lambda: one request at a time)."""
    size = int(_number(env, "DB_POOL_MAX_SIZE", 10))
    if size < 1:
        raise ConfigError("DB_POOL_MAX_SIZE must be at least 1")
    return size


# Supabase's transaction pooler (Supavisor, or the dedicated PgBouncer) listens on this port.
TRANSACTION_POOLER_PORT = "6543"


def behind_transaction_pooler(database_url: str, env: Mapping[str, str] = os.environ) -> bool:
    """Whether ``database_url`` reaches Postgres through a transaction pooler: its port is
    6543, or ``DATABASE_POOLER=transaction`` says so (``direct``/``session`` says it is not)."""
    declared = env.get("DATABASE_POOLER", "").strip().lower()
    if declared in ("transaction", "direct", "session"):
        return declared == "transaction"
    if declared:
        raise ConfigError(
            f"DATABASE_POOLER must be transaction, session or direct, not {declared!r}"
        )
    return TRANSACTION_POOLER_PORT in _ports(database_url)


def _ports(database_url: str) -> list[str]:
    """The ports a libpq URI or key=value string names (several for a multi-host URL)."""
    if "://" not in database_url:
        found = re.findall(r"(?:^|\s)port\s*=\s*'?([\d,]+)", database_url)
        return [port for group in found for port in group.split(",")]
    parts = urllib.parse.urlsplit(database_url)
    hosts = parts.netloc.rpartition("@")[2].split(",")
    ports = [host.rpartition(":")[2] for host in hosts if ":" in host.rpartition("]")[2]]
    ports += urllib.parse.parse_qs(parts.query).get("port", [])
    return ports


def webhook_keys(raw: str) -> tuple[bytes, ...]:
    """The keys of ``WEBHOOK_SECRET``: one ``whsec_`` secret, or several separated by spaces or
    commas while a rotation is under way (the old and the new both verify)."""
    from functions.core.signatures import parse_secrets

    try:
        return parse_secrets(raw)
    except ValueError as exc:
        raise ConfigError(f"WEBHOOK_SECRET is malformed: {exc}") from None


def cors_origin(env: Mapping[str, str] = os.environ) -> str:
    return env.get("CORS_ALLOW_ORIGIN", "*").strip() or "*"


@dataclass(frozen=True)
class WebhookConfig:
    secret: str
    process_job_url: str | None
    process_job_function: str | None
    keys: tuple[bytes, ...] = ()
    tolerance_s: float = 300.0
    # Only the local HTTP invoker sends it; on AWS the invocation is authorised by IAM.
    process_job_secret: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookConfig:
        url = env.get("PROCESS_JOB_URL", "").strip() or None
        function = env.get("PROCESS_JOB_FUNCTION_NAME", "").strip() or None
        if url is None and function is None:
            raise ConfigError(
                "set PROCESS_JOB_URL (local functions-framework) or PROCESS_JOB_FUNCTION_NAME"
                " (AWS Lambda) so the webhook knows what to invoke"
            )
        secret_value = secret(env, "WEBHOOK_SECRET", "to verify the database's signed calls")
        tolerance_s = _number(env, "WEBHOOK_TOLERANCE_SECONDS", 300.0)
        if tolerance_s <= 0:
            raise ConfigError("WEBHOOK_TOLERANCE_SECONDS must be above 0")
        return cls(
            secret=secret_value,
            process_job_url=url,
            process_job_function=function,
            keys=webhook_keys(secret_value),
            tolerance_s=tolerance_s,
            process_job_secret=env.get("PROCESS_JOB_SECRET", secret_value),
        )


def _task_path(raw: str) -> str:
    path = raw.strip().strip("/")
    if ".." in path.split("/"):
        raise ConfigError(f"TASK_PATH must be a folder below the functions' root, not {raw!r}")
    return path


# How long an idle worker waits for new work before leaving (WORKER_LINGER_SECONDS).
LAMBDA_LINGER_S = 0.5
LOCAL_LINGER_S = 2.0


@dataclass(frozen=True)
class WorkerConfig:
    database_url: str
    process_job_secret: str
    max_attempts: int
    retry_base_delay_s: float
    visibility_s: int
    batch_size: int
    task_timeout_s: float
    max_run_s: float
    task_min_s: float
    task_max_s: float
    task_modules: tuple[str, ...]
    idle_linger_s: float = 0.0
    # The folder holding the user's own task package, relative to where ``functions/`` is (a
    # deployed zip's root, or the checkout); it goes on sys.path before TASK_MODULES load.
    task_path: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WorkerConfig:
        low = _number(env, "TASK_MIN_SECONDS", 5.0)
        high = _number(env, "TASK_MAX_SECONDS", 10.0)
        if not 0 <= low <= high:
            raise ConfigError("TASK_MIN_SECONDS must be between 0 and TASK_MAX_SECONDS")
        modules = tuple(m.strip() for m in env.get("TASK_MODULES", "").split(",") if m.strip())
        return cls(
            database_url=database_url(env),
            process_job_secret=env.get("PROCESS_JOB_SECRET", env.get("WEBHOOK_SECRET", "")),
            max_attempts=int(_number(env, "MAX_ATTEMPTS", 3)),
            retry_base_delay_s=_number(env, "RETRY_BASE_DELAY_SECONDS", 2.0),
            visibility_s=int(_number(env, "VISIBILITY_TIMEOUT_SECONDS", 30)),
            batch_size=int(_number(env, "BATCH_SIZE", 10)),
            task_timeout_s=_number(env, "TASK_TIMEOUT_SECONDS", 600.0),
            max_run_s=_number(env, "PROCESS_JOB_MAX_SECONDS", 840.0),
            task_min_s=low,
            task_max_s=high,
            task_modules=modules,
            task_path=_task_path(env.get("TASK_PATH", "")),
            # A lingering Lambda invocation is billed for its wait: keep it short there.
            idle_linger_s=_number(
                env,
                "WORKER_LINGER_SECONDS",
                LAMBDA_LINGER_S if env.get("AWS_LAMBDA_FUNCTION_NAME") else LOCAL_LINGER_S,
            ),
        )
