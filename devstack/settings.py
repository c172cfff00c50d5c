"""What each local program reads from the environment, once, into one frozen object: the stack
(``python -m devstack``), the Realtime gateway, the relay, the migration runner, the sweeper and
the page server. Command-line flags, where a program has them, override these values.

Names the functions read as well (DATABASE_URL, WEBHOOK_SECRET, TASK_MIN_SECONDS, ...) are the
functions' declarations (functions/config.py), so a name and its default are written once.
Secrets and the database URL (with its password) only ever come from the environment of a
child the stack starts, never its command line, which every user's ``ps`` shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from devstack.auth.signing import ES256
from devstack.config import DEFAULT_BASE_PORT
from functions.config import (
    DATABASE_URL,
    SUPABASE_JWT_SECRET,
    SUPABASE_PUBLISHABLE_KEY,
    TASK_MAX_SECONDS,
    TASK_MIN_SECONDS,
    WEBHOOK_SECRET,
)
from functions.env import Settings, Var

BASE_PORT = Var(
    "BASE_PORT",
    "The first of the local stack's six ports: the page, then Realtime and Auth, the embedded"
    " Postgres, submit, webhook and process_job.",
    default=str(DEFAULT_BASE_PORT),
    example="25000",
)
AUTH_SIGNING = Var(
    "AUTH_SIGNING",
    "What the local Auth signs access tokens with: ES256 (new Supabase projects; the key is"
    " published as a JWKS) or HS256 (the legacy JWT secret).",
    default=ES256,
    example="HS256",
)
REALTIME_PORT = Var(
    "REALTIME_PORT", "The Realtime gateway's (and local Auth's) port.", default="4000"
)
REALTIME_HOST = Var(
    "REALTIME_HOST", "The address the Realtime gateway listens on.", default="127.0.0.1"
)
JWT_SIGNING_KEY = Var(
    "JWT_SIGNING_KEY",
    "The local Auth's ES256 private key (PEM); unset, one is generated at start.",
    example="-----BEGIN PRIVATE KEY-----...",
)
JWT_SIGNING_KID = Var(
    "JWT_SIGNING_KID", "The key id published with JWT_SIGNING_KEY in the JWKS.", example="a1b2c3"
)
SUPABASE_SECRET_KEY = Var(
    "SUPABASE_SECRET_KEY",
    "The project's secret key (acts as service_role): the gateway accepts it as apikey.",
    example="sb_secret_...",
)
RELAY_PACING = Var(
    "RELAY_PACING",
    "off sends queued requests as fast as possible instead of at pg_net's pace (its batch"
    " size and the pause after each pass).",
    default="on",
    example="off",
)
PAGE_CONFIG_JS = Var(
    "PAGE_CONFIG_JS",
    "The config.js the local page server answers with (the stack generates it).",
    example="window.SUPAJOBS_CONFIG = {...}",
)


def _optional(env: Mapping[str, str], var: Var) -> str | None:
    return var.get(env) or None


@dataclass(frozen=True)
class StackSettings(Settings):
    """``python -m devstack``: DATABASE_URL unset runs an embedded Postgres."""

    READER: ClassVar[str] = "devstack"
    READS: ClassVar[tuple[Var, ...]] = (
        DATABASE_URL,
        BASE_PORT,
        TASK_MIN_SECONDS,
        TASK_MAX_SECONDS,
        AUTH_SIGNING,
    )

    database_url: str | None
    base_port: int
    task_min_seconds: str
    task_max_seconds: str
    auth_signing: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StackSettings:
        return cls(
            database_url=_optional(env, DATABASE_URL),
            base_port=int(BASE_PORT.get(env)),
            task_min_seconds=TASK_MIN_SECONDS.get(env),
            task_max_seconds=TASK_MAX_SECONDS.get(env),
            auth_signing=AUTH_SIGNING.get(env),
        )


@dataclass(frozen=True)
class GatewaySettings(Settings):
    """``python -m devstack.realtime``: the Realtime gateway and the local Auth it serves."""

    READER: ClassVar[str] = "devstack.realtime"
    READS: ClassVar[tuple[Var, ...]] = (
        DATABASE_URL,
        REALTIME_PORT,
        REALTIME_HOST,
        SUPABASE_JWT_SECRET,
        SUPABASE_PUBLISHABLE_KEY,
        AUTH_SIGNING,
        JWT_SIGNING_KEY,
        JWT_SIGNING_KID,
        SUPABASE_PUBLISHABLE_KEY,
        SUPABASE_SECRET_KEY,
    )

    database_url: str | None
    port: int
    host: str
    jwt_secret: str | None
    auth_signing: str
    es256_pem: str
    es256_kid: str
    # The project's opaque API keys and the role each acts as.
    api_keys: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GatewaySettings:
        roles = {SUPABASE_PUBLISHABLE_KEY: "anon", SUPABASE_SECRET_KEY: "service_role"}
        return cls(
            database_url=_optional(env, DATABASE_URL),
            port=int(REALTIME_PORT.get(env)),
            host=REALTIME_HOST.get(env),
            jwt_secret=_optional(env, SUPABASE_JWT_SECRET),
            auth_signing=AUTH_SIGNING.get(env).upper(),
            es256_pem=JWT_SIGNING_KEY.get(env),
            es256_kid=JWT_SIGNING_KID.get(env),
            api_keys={var.get(env): role for var, role in roles.items() if var.get(env)},
        )


@dataclass(frozen=True)
class RelaySettings(Settings):
    """``python -m devstack.relay``: pg_net's stand-in."""

    READER: ClassVar[str] = "devstack.relay"
    READS: ClassVar[tuple[Var, ...]] = (DATABASE_URL, RELAY_PACING)

    database_url: str | None
    pace: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RelaySettings:
        pacing = RELAY_PACING.get(env).lower()
        return cls(_optional(env, DATABASE_URL), pacing not in ("off", "0", "false", "no"))


@dataclass(frozen=True)
class MigrateSettings(Settings):
    """``python -m devstack.postgres.migrate`` (``supajobs-migrate``)."""

    READER: ClassVar[str] = "devstack.postgres.migrate"
    READS: ClassVar[tuple[Var, ...]] = (DATABASE_URL, WEBHOOK_SECRET)

    database_url: str | None
    webhook_secret: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MigrateSettings:
        return cls(_optional(env, DATABASE_URL), _optional(env, WEBHOOK_SECRET))


@dataclass(frozen=True)
class SweeperSettings(Settings):
    """``python -m devstack.sweeper``."""

    READER: ClassVar[str] = "devstack.sweeper"
    READS: ClassVar[tuple[Var, ...]] = (DATABASE_URL,)

    database_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SweeperSettings:
        return cls(_optional(env, DATABASE_URL))


@dataclass(frozen=True)
class PageServerSettings(Settings):
    """``python -m devstack.page_server``."""

    READER: ClassVar[str] = "devstack.page_server"
    READS: ClassVar[tuple[Var, ...]] = (PAGE_CONFIG_JS,)

    config_js: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PageServerSettings:
        return cls(PAGE_CONFIG_JS.get(env))
