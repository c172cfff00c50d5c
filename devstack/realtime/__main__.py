"""``python -m devstack.realtime``: the gateway as a program, stopped by SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping

from devstack.entrypoints import prog
from devstack.realtime.config import GatewayConfig
from devstack.realtime.server import Gateway


def _api_keys(env: Mapping[str, str]) -> dict[str, str]:
    """The project's opaque API keys and the role each acts as."""
    roles = {"SUPABASE_PUBLISHABLE_KEY": "anon", "SUPABASE_SECRET_KEY": "service_role"}
    return {env[name]: role for name, role in roles.items() if env.get(name)}


def _parse(argv: list[str] | None) -> GatewayConfig:
    parser = argparse.ArgumentParser(
        prog=prog("python -m devstack.realtime"),
        description="a Supabase-Realtime-compatible WebSocket gateway for postgres_changes",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("REALTIME_PORT", "4000")))
    parser.add_argument("--host", default=os.environ.get("REALTIME_HOST", "127.0.0.1"))
    parser.add_argument(
        "--jwt-secret",
        default=os.environ.get("JWT_SECRET"),
        help="the project's JWT secret (prefer the JWT_SECRET variable: argv is visible to ps)",
    )
    parser.add_argument(
        "--auth-signing",
        choices=["ES256", "HS256"],
        default=os.environ.get("AUTH_SIGNING", "ES256").upper(),
        help="what the local Auth signs access tokens with: an ES256 key (new Supabase"
        " projects, published at /auth/v1/.well-known/jwks.json) or the legacy HS256 secret",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=60.0,
        help="close a connection silent for this many seconds",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    if not args.jwt_secret:
        parser.error("give --jwt-secret or set JWT_SECRET")
    try:
        return GatewayConfig(
            database_url=args.database_url,
            jwt_secret=args.jwt_secret,
            port=args.port,
            host=args.host,
            heartbeat_timeout_s=args.heartbeat_timeout,
            signing_algorithm=args.auth_signing,
            # Keys by environment only (argv is visible to ps); absent, an ES256 key is made.
            es256_pem=os.environ.get("JWT_SIGNING_KEY", ""),
            es256_kid=os.environ.get("JWT_SIGNING_KID", ""),
            api_keys=_api_keys(os.environ),
        )
    except ValueError as exc:
        parser.error(str(exc))


async def _run_until_signalled(gateway: Gateway) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await gateway.run(stop)


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    asyncio.run(_run_until_signalled(Gateway(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
