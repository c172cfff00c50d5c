"""``python -m devstack.realtime``: the gateway as a program, stopped by SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from devstack.entrypoints import prog
from devstack.realtime.config import GatewayConfig
from devstack.realtime.server import Gateway
from devstack.settings import GatewaySettings


def _parse(argv: list[str] | None) -> GatewayConfig:
    env = GatewaySettings.from_env()
    parser = argparse.ArgumentParser(
        prog=prog("python -m devstack.realtime"),
        description="a Supabase-Realtime-compatible WebSocket gateway for postgres_changes",
    )
    parser.add_argument(
        "--database-url",
        default=env.database_url,
        help="prefer the DATABASE_URL variable: a command line (and a password in it) is"
        " visible to ps",
    )
    parser.add_argument("--port", type=int, default=env.port)
    parser.add_argument("--host", default=env.host)
    parser.add_argument(
        "--auth-signing",
        choices=["ES256", "HS256"],
        default=env.auth_signing,
        help="what the local Auth signs access tokens with: an ES256 key (new Supabase"
        " projects, published at /auth/v1/.well-known/jwks.json) or the legacy HS256 secret",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=GatewayConfig.heartbeat_timeout_s,
        help="close a connection silent for this many seconds",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    if not env.jwt_secret:
        # By environment only: a command line is visible to every user's ps.
        parser.error("set SUPABASE_JWT_SECRET")
    try:
        return GatewayConfig(
            database_url=args.database_url,
            jwt_secret=env.jwt_secret,
            port=args.port,
            host=args.host,
            heartbeat_timeout_s=args.heartbeat_timeout,
            signing_algorithm=args.auth_signing,
            # Keys by environment only (argv is visible to ps); absent, an ES256 key is made.
            es256_pem=env.es256_pem,
            es256_kid=env.es256_kid,
            api_keys=env.api_keys,
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
