"""``python -m devstack.realtime``: the gateway as a program, stopped by SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from devstack.realtime.config import GatewayConfig
from devstack.realtime.server import Gateway


def _parse(argv: list[str] | None) -> GatewayConfig:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.realtime",
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
