"""The local stack's settings: ports, the secrets it generates once and keeps in its data
folder (never in the repo), and the page's generated config file."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.auth.keys import generate_jwt_secret, mint_keys
from devstack.auth.signing import ES256, generate_es256_pem, new_kid


@dataclass(frozen=True)
class Ports:
    page: int
    postgres: int
    realtime: int
    submit: int
    webhook: int
    process_job: int


DEFAULT_BASE_PORT = 24320
# The most process_job drains at once (the database's wake-up ceiling).
DEFAULT_MAX_WORKERS = 8
CHECKOUT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """``.devstack/`` in the checkout; for an installed package, in the current folder."""
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / ".devstack"
    return Path.cwd() / ".devstack"


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    ports: Ports
    database_url: str | None
    task_seconds: tuple[str, str]
    sweep_interval_s: float
    # The most process_job drains at once (the database's wake-up ceiling).
    max_workers: int = DEFAULT_MAX_WORKERS
    # What the local Auth signs access tokens with (AUTH_SIGNING): ES256 or HS256.
    auth_signing: str = ES256

    @classmethod
    def from_base_port(
        cls,
        data_dir: Path,
        base_port: int,
        database_url: str | None,
        task_seconds: tuple[str, str],
        sweep_interval_s: float,
        max_workers: int = DEFAULT_MAX_WORKERS,
        auth_signing: str = ES256,
    ) -> StackConfig:
        # The Supabase CLI's order (API after the page, then the database), but in a range of
        # its own: the CLI takes 54320-54329, and Linux hands out 32768-60999 for outgoing
        # connections, where a fixed port can be taken by any client at any moment.
        ports = Ports(
            page=base_port,
            realtime=base_port + 1,
            postgres=base_port + 2,
            submit=base_port + 3,
            webhook=base_port + 4,
            process_job=base_port + 5,
        )
        return cls(
            data_dir,
            ports,
            database_url,
            task_seconds,
            sweep_interval_s,
            max_workers,
            auth_signing,
        )

    @staticmethod
    def url(port: int) -> str:
        return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class LocalSecrets:
    jwt_secret: str
    webhook_secret: str
    anon_key: str
    service_role_key: str
    # Today's keys, as a new Supabase project has them: opaque API keys and an ES256 signing
    # key (a file from before them gets them on its next load).
    publishable_key: str = ""
    secret_key: str = ""
    es256_pem: str = ""
    es256_kid: str = ""


def _with_current_keys(local: LocalSecrets) -> LocalSecrets:
    """``local`` with whatever newer kind of key it lacks generated."""
    fresh: dict[str, str] = {}
    if not local.webhook_secret.startswith("whsec_"):
        # A bearer secret from before webhooks were signed: replace it, keep the API keys.
        fresh["webhook_secret"] = generate_webhook_secret()
    if not local.publishable_key:
        fresh["publishable_key"] = "sb_publishable_" + secrets.token_urlsafe(24)
        fresh["secret_key"] = "sb_secret_" + secrets.token_urlsafe(24)
    if not local.es256_pem:
        fresh["es256_pem"], fresh["es256_kid"] = generate_es256_pem(), new_kid()
    return LocalSecrets(**{**asdict(local), **fresh}) if fresh else local


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of a random 32-byte key."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def load_or_create_secrets(data_dir: Path) -> LocalSecrets:
    """The stack's secrets and API keys, made on first run and kept (mode 0600) for the next,
    so a page left open keeps a valid key across restarts."""
    path = data_dir / "secrets.json"
    if path.exists():
        stored = LocalSecrets(**json.loads(path.read_text()))
        local = _with_current_keys(stored)
        if local != stored:
            path.write_text(json.dumps(asdict(local)))
        return local
    jwt_secret = generate_jwt_secret()
    keys = mint_keys(jwt_secret)
    local = _with_current_keys(
        LocalSecrets(
            jwt_secret=jwt_secret,
            webhook_secret=generate_webhook_secret(),
            anon_key=keys.anon_key,
            service_role_key=keys.service_role_key,
        )
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(local)))
    return local


def page_config_js(functions_url: str, supabase_url: str, key: str) -> str:
    """The page's configuration: public values only (never a secret key or database URL).
    ``key`` is the publishable key or the legacy anon key."""
    config = {
        "functionsUrl": functions_url,
        "supabaseUrl": supabase_url,
        "supabaseKey": key,
    }
    return f"window.JOBS_CONFIG = {json.dumps(config, indent=2)};\n"
