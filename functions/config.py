"""Each deployable function's settings, read once per cold start from the environment into one
frozen object: ``SubmitConfig``, ``WebhookConfig``, ``WorkerConfig`` (process_job). Every
variable is declared once below (functions.env.Var: name, default, meaning), and
docs/configuration.md is rendered from these declarations.

Each function reads only what it needs, so ``webhook`` runs without a database URL and
``submit`` without a webhook secret. The secrets (``DATABASE_URL``, ``WEBHOOK_SECRET``,
``SUPABASE_JWT_SECRET``) are each taken from exactly one of ``NAME_SSM_PARAMETER`` (a
SecureString parameter's name, read with decryption), ``NAME_SECRET_ARN`` (a Secrets Manager
secret) or ``NAME`` itself (the value, for local runs). Deployed, only the first two are set, so
no value is in the template or the function's configuration; callers build their configuration
once per process (functions.once), so each secret is fetched once per instance.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from functions import secrets
from functions.core import defaults
from functions.env import SECRETS_MANAGER_SUFFIX, SSM_SUFFIX, Settings, Var

# Supabase's transaction pooler (Supavisor, or the dedicated PgBouncer) listens on this port.
TRANSACTION_POOLER_PORT = "6543"
POOLER_MODES = ("transaction", "session", "direct")
# How long an idle worker waits for new work before leaving (WORKER_LINGER_SECONDS): a
# lingering Lambda invocation is billed for its wait, so it is short there.
LAMBDA_LINGER_S = 0.5
LOCAL_LINGER_S = 2.0

DATABASE_URL = Var(
    "DATABASE_URL",
    "The jobs database (a libpq URL; behind Supabase's transaction pooler, port 6543).",
    example="postgresql://postgres.<ref>:<password>@aws-0-<region>.pooler.supabase.com:6543/postgres",
    secret=True,
)
DB_POOL_MAX_SIZE = Var(
    "DB_POOL_MAX_SIZE",
    "Connections one process's pool may hold (1 on Lambda: one request at a time).",
    default="10",
    example="1",
)
DATABASE_POOLER = Var(
    "DATABASE_POOLER",
    "Whether DATABASE_URL goes through a transaction pooler (then nothing is prepared):"
    " transaction, session or direct; unset, port 6543 means transaction.",
    example="transaction",
)
SUPABASE_URL = Var(
    "SUPABASE_URL",
    "The project's URL; submit verifies user tokens through its JWKS"
    " (/auth/v1/.well-known/jwks.json). Unset with no JWT secret: the public demo mode only.",
    example="https://<ref>.supabase.co",
)
SUPABASE_JWT_SECRET = Var(
    "SUPABASE_JWT_SECRET",
    "The project's legacy JWT secret (HS256): submit verifies HS256 user tokens with it, the"
    " local Realtime gateway and Auth sign and verify with it.",
    example="<the project's JWT secret, Settings > API>",
    secret=True,
)
# The functions do not read it; declared here, beside SUPABASE_URL, because the client and the
# local gateway both do (and the client's package may be installed without the gateway's).
SUPABASE_PUBLISHABLE_KEY = Var(
    "SUPABASE_PUBLISHABLE_KEY",
    "The project's publishable key (acts as anon): the client sends it as apikey; the local"
    " gateway accepts it.",
    example="sb_publishable_...",
)
CORS_ALLOW_ORIGIN = Var(
    "CORS_ALLOW_ORIGIN",
    "The origin the jobs API allows in browsers.",
    default="*",
    example="https://jobs.example.com",
)
WEBHOOK_SECRET = Var(
    "WEBHOOK_SECRET",
    "The Standard Webhooks secret(s) the database signs wake-ups with (several, space- or"
    " comma-separated, during a rotation); also process_job's bearer secret unless"
    " PROCESS_JOB_SECRET is set.",
    example="whsec_<base64 of 32 random bytes>",
    secret=True,
)
WEBHOOK_TOLERANCE_SECONDS = Var(
    "WEBHOOK_TOLERANCE_SECONDS",
    "How old (or how far ahead) a signed wake-up may be and still be accepted.",
    default="300",
    example="60",
)
PROCESS_JOB_URL = Var(
    "PROCESS_JOB_URL",
    "Where the webhook invokes process_job over HTTP (locally; on Google Cloud, the Cloud"
    " Task's URL and its token's audience).",
    example="http://127.0.0.1:24325",
)
PROCESS_JOB_FUNCTION_NAME = Var(
    "PROCESS_JOB_FUNCTION_NAME",
    "The Lambda function the webhook invokes asynchronously (AWS).",
    example="supajobs-prod-process_job",
)
PROCESS_JOB_SECRET = Var(
    "PROCESS_JOB_SECRET",
    "The bearer secret the webhook sends to process_job over HTTP and process_job checks;"
    " unset, WEBHOOK_SECRET's value.",
    example="a-long-random-string",
)
TASK_MIN_SECONDS = Var(
    "TASK_MIN_SECONDS",
    "The shortest a simulate task sleeps.",
    default=f"{defaults.SIMULATE_MIN_S:g}",
    example="0.1",
)
TASK_MAX_SECONDS = Var(
    "TASK_MAX_SECONDS",
    "The longest a simulate task sleeps.",
    default=f"{defaults.SIMULATE_MAX_S:g}",
    example="0.5",
)
TASK_MODULES = Var(
    "TASK_MODULES",
    "Comma-separated modules process_job imports to register the user's tasks.",
    example="mytasks.reports,mytasks.mail",
)
TASK_PATH = Var(
    "TASK_PATH",
    "A folder, relative to the one holding functions/, put on the import path before"
    " TASK_MODULES load (where a deployment's own task package is).",
    example="tasks",
)
MAX_ATTEMPTS = Var(
    "MAX_ATTEMPTS",
    "How many times a job runs before it is failed for good.",
    str(defaults.MAX_ATTEMPTS),
    "5",
)
RETRY_BASE_DELAY_SECONDS = Var(
    "RETRY_BASE_DELAY_SECONDS",
    "The first retry's delay; each later one doubles it (with jitter).",
    f"{defaults.RETRY_BASE_DELAY_S:g}",
    "10",
)
VISIBILITY_TIMEOUT_SECONDS = Var(
    "VISIBILITY_TIMEOUT_SECONDS",
    "How long a claimed job stays invisible to other workers between heartbeats.",
    str(defaults.VISIBILITY_S),
    "60",
)
BATCH_SIZE = Var(
    "BATCH_SIZE", "How many jobs a worker claims at once.", str(defaults.BATCH_SIZE), "8"
)
TASK_TIMEOUT_SECONDS = Var(
    "TASK_TIMEOUT_SECONDS",
    "A task's time limit unless its kind declares one.",
    f"{defaults.TASK_TIMEOUT_S:g}",
    "120",
)
PROCESS_JOB_MAX_SECONDS = Var(
    "PROCESS_JOB_MAX_SECONDS",
    "The longest one process_job invocation drains (less when the platform's limit is shorter).",
    "840",
    "300",
)
WORKER_LINGER_SECONDS = Var(
    "WORKER_LINGER_SECONDS",
    f"How long an idle worker waits for new work before returning; unset, {LAMBDA_LINGER_S:g}"
    f" on Lambda (billed while it waits) and {LOCAL_LINGER_S:g} elsewhere.",
    example="1",
)
AWS_LAMBDA_FUNCTION_NAME = Var(
    "AWS_LAMBDA_FUNCTION_NAME",
    "Set by AWS Lambda: process_job is on Lambda (a shorter idle linger).",
    example="supajobs-prod-process_job",
)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _number(env: Mapping[str, str], var: Var, default: float | None = None) -> float:
    """``var``'s number; its declared default when unset (or ``default``, a computed one)."""
    raw = env.get(var.name, "").strip()
    if not raw:
        return default if default is not None else float(var.default)
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{var.name} must be a number, not {raw!r}") from None


def secret(env: Mapping[str, str], var: Var, purpose: str) -> str:
    """The secret ``var`` from the one source ``env`` names (the raw string, unparsed)."""
    name = var.name
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


def _http_url(env: Mapping[str, str], var: Var) -> str:
    url = var.get(env).rstrip("/")
    if url and urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ConfigError(f"{var.name} must be an http(s) URL, not {url!r}")
    return url


def behind_transaction_pooler(database_url: str, declared: str = "") -> bool:
    """Whether ``database_url`` reaches Postgres through a transaction pooler: its port is
    6543, or ``declared`` (DATABASE_POOLER) says so (``direct``/``session`` says it is not)."""
    declared = declared.strip().lower()
    if declared in POOLER_MODES:
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


@dataclass(frozen=True)
class Database(Settings):
    """The jobs database and how to reach it: the URL, the pool's size, whether a transaction
    pooler is in between (then nothing is prepared)."""

    READER: ClassVar[str] = "submit, process_job"
    READS: ClassVar[tuple[Var, ...]] = (DATABASE_URL, DB_POOL_MAX_SIZE, DATABASE_POOLER)

    url: str
    pool_max_size: int
    behind_transaction_pooler: bool

    @classmethod
    def at(cls, url: str, pool_max_size: int | None = None, pooler: str = "") -> Database:
        """The database at ``url``, with the declared defaults (a pooler known by its port)."""
        size = int(DB_POOL_MAX_SIZE.default) if pool_max_size is None else pool_max_size
        return cls(url, size, behind_transaction_pooler(url, pooler))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Database:
        url = secret(env, DATABASE_URL, "to reach the jobs database")
        size = int(_number(env, DB_POOL_MAX_SIZE))
        if size < 1:
            raise ConfigError("DB_POOL_MAX_SIZE must be at least 1")
        # A malformed DATABASE_POOLER fails at cold start.
        return cls.at(url, size, DATABASE_POOLER.get(env))


def webhook_keys(raw: str) -> tuple[bytes, ...]:
    """The keys of ``WEBHOOK_SECRET``: one ``whsec_`` secret, or several separated by spaces or
    commas while a rotation is under way (the old and the new both verify)."""
    from functions.core.signatures import parse_secrets

    try:
        return parse_secrets(raw)
    except ValueError as exc:
        raise ConfigError(f"WEBHOOK_SECRET is malformed: {exc}") from None


def _process_job_secret(env: Mapping[str, str], webhook_secret: str) -> str:
    """process_job's bearer secret: PROCESS_JOB_SECRET, else the webhook secret (its one
    fallback, for the webhook that sends it and process_job that checks it)."""
    return env.get(PROCESS_JOB_SECRET.name, webhook_secret)


@dataclass(frozen=True)
class SubmitConfig(Settings):
    """The jobs API's settings."""

    READER: ClassVar[str] = "submit"
    READS: ClassVar[tuple[Var, ...]] = (SUPABASE_URL, SUPABASE_JWT_SECRET, CORS_ALLOW_ORIGIN)

    database: Database
    # The project's URL ("" when unset) and its legacy JWT secret ("" when unset): with
    # neither, the public demo mode only.
    supabase_url: str
    jwt_secret: str
    cors_origin: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SubmitConfig:
        return cls(
            database=Database.from_env(env),
            supabase_url=_http_url(env, SUPABASE_URL),
            jwt_secret=(
                secret(env, SUPABASE_JWT_SECRET, "to verify user access tokens")
                if SUPABASE_JWT_SECRET.given(env)
                else ""
            ),
            cors_origin=CORS_ALLOW_ORIGIN.get(env),
        )


@dataclass(frozen=True)
class WebhookConfig(Settings):
    READER: ClassVar[str] = "webhook"
    READS: ClassVar[tuple[Var, ...]] = (
        WEBHOOK_SECRET,
        WEBHOOK_TOLERANCE_SECONDS,
        PROCESS_JOB_URL,
        PROCESS_JOB_FUNCTION_NAME,
        PROCESS_JOB_SECRET,
    )

    secret: str
    process_job_url: str | None
    process_job_function: str | None
    keys: tuple[bytes, ...] = ()
    tolerance_s: float = float(WEBHOOK_TOLERANCE_SECONDS.default)
    # Only the local HTTP invoker sends it; on AWS the invocation is authorised by IAM.
    process_job_secret: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebhookConfig:
        url = PROCESS_JOB_URL.get(env) or None
        function = PROCESS_JOB_FUNCTION_NAME.get(env) or None
        if url is None and function is None:
            raise ConfigError(
                "set PROCESS_JOB_URL (local functions-framework) or PROCESS_JOB_FUNCTION_NAME"
                " (AWS Lambda) so the webhook knows what to invoke"
            )
        secret_value = secret(env, WEBHOOK_SECRET, "to verify the database's signed calls")
        tolerance_s = _number(env, WEBHOOK_TOLERANCE_SECONDS)
        if tolerance_s <= 0:
            raise ConfigError("WEBHOOK_TOLERANCE_SECONDS must be above 0")
        return cls(
            secret=secret_value,
            process_job_url=url,
            process_job_function=function,
            keys=webhook_keys(secret_value),
            tolerance_s=tolerance_s,
            process_job_secret=_process_job_secret(env, secret_value),
        )


def _task_path(raw: str) -> str:
    path = raw.strip().strip("/")
    if ".." in path.split("/"):
        raise ConfigError(f"TASK_PATH must be a folder below the functions' root, not {raw!r}")
    return path


@dataclass(frozen=True)
class WorkerConfig(Settings):
    """process_job's settings."""

    READER: ClassVar[str] = "process_job"
    READS: ClassVar[tuple[Var, ...]] = (
        PROCESS_JOB_SECRET,
        WEBHOOK_SECRET,
        MAX_ATTEMPTS,
        RETRY_BASE_DELAY_SECONDS,
        VISIBILITY_TIMEOUT_SECONDS,
        BATCH_SIZE,
        TASK_TIMEOUT_SECONDS,
        PROCESS_JOB_MAX_SECONDS,
        TASK_MIN_SECONDS,
        TASK_MAX_SECONDS,
        TASK_MODULES,
        TASK_PATH,
        WORKER_LINGER_SECONDS,
        AWS_LAMBDA_FUNCTION_NAME,
    )

    database: Database
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

    @property
    def database_url(self) -> str:
        return self.database.url

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WorkerConfig:
        low = _number(env, TASK_MIN_SECONDS)
        high = _number(env, TASK_MAX_SECONDS)
        if not 0 <= low <= high:
            raise ConfigError("TASK_MIN_SECONDS must be between 0 and TASK_MAX_SECONDS")
        modules = tuple(m.strip() for m in TASK_MODULES.get(env).split(",") if m.strip())
        on_lambda = bool(AWS_LAMBDA_FUNCTION_NAME.get(env))
        return cls(
            database=Database.from_env(env),
            process_job_secret=_process_job_secret(env, env.get(WEBHOOK_SECRET.name, "")),
            max_attempts=int(_number(env, MAX_ATTEMPTS)),
            retry_base_delay_s=_number(env, RETRY_BASE_DELAY_SECONDS),
            visibility_s=int(_number(env, VISIBILITY_TIMEOUT_SECONDS)),
            batch_size=int(_number(env, BATCH_SIZE)),
            task_timeout_s=_number(env, TASK_TIMEOUT_SECONDS),
            max_run_s=_number(env, PROCESS_JOB_MAX_SECONDS),
            task_min_s=low,
            task_max_s=high,
            task_modules=modules,
            task_path=_task_path(TASK_PATH.get(env)),
            idle_linger_s=_number(
                env, WORKER_LINGER_SECONDS, LAMBDA_LINGER_S if on_lambda else LOCAL_LINGER_S
            ),
        )
