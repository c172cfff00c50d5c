"""``python -m devstack.relay``: the relay as a program, stopped by SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from devstack.entrypoints import prog
from devstack.relay.worker import Relay
from devstack.settings import RelaySettings


async def _run_until_signalled(relay: Relay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await relay.run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("python -m devstack.relay"),
        description="deliver the HTTP requests queued by net.http_*",
    )
    env = RelaySettings.from_env()
    parser.add_argument("--database-url", default=env.database_url)
    parser.add_argument(
        "--no-pacing",
        dest="pace",
        action="store_false",
        default=env.pace,
        help="send as fast as possible instead of at pg_net's pace (or RELAY_PACING=off)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO
    asyncio.run(_run_until_signalled(Relay(args.database_url, pace=args.pace)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
