"""The gateway's settings, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.auth.signing import ALGORITHMS, ES256
from devstack.realtime.auth import DEFAULT_ROLES

PATH = "/realtime/v1/websocket"


@dataclass(frozen=True)
class GatewayConfig:
    database_url: str
    jwt_secret: str
    port: int = 0  # 0: any free port (see Gateway.port once it is ready)
    host: str = "127.0.0.1"
    # Phoenix clients heartbeat every 25-30 s; one silent for this long is gone.
    heartbeat_timeout_s: float = 60.0
    roles: frozenset[str] = DEFAULT_ROLES
    # Captured rows are fetched within milliseconds; this only bounds the table's size.
    retention_s: float = 60.0
    housekeeping_every_s: float = 10.0
    # What the local Auth signs access tokens with: ES256 (new Supabase projects; the key is
    # generated at start when none is given) or HS256 (the legacy JWT secret). Both verify.
    signing_algorithm: str = ES256
    es256_pem: str = ""
    es256_kid: str = ""
    # The project's opaque API keys and the role each stands for (publishable: anon).
    api_keys: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_url:
            raise ValueError("the gateway needs a database URL (--database-url or DATABASE_URL)")
        if not self.jwt_secret:
            raise ValueError("the gateway needs the JWT secret (SUPABASE_JWT_SECRET)")
        if self.signing_algorithm not in ALGORITHMS:
            raise ValueError(f"the signing algorithm must be one of {', '.join(ALGORITHMS)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
        if self.heartbeat_timeout_s <= 0:
            raise ValueError("heartbeat_timeout_s must be positive")
