"""``python -m devstack`` (``make run``): the whole system on this machine, in one terminal.

Starts the embedded Postgres (or uses DATABASE_URL), applies the migrations, points the queue
trigger at the local webhook, then runs the three functions under functions-framework, the
pg_net relay, the Realtime gateway, the sweeper tick and a static server for the page, with
prefixed logs. Ctrl-C stops every child; a second run reuses the data.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from devstack import migrate
from devstack.config import LocalSecrets, StackConfig, load_or_create_secrets, page_config_js
from devstack.postgres import EmbeddedPostgres, embedded
from devstack.services import ROOT, ManagedProcess, function_process
from devstack.supervisor import Supervisor
from devstack.sweeper import Sweeper

DATA_DIR = ROOT / ".devstack"


def _parse(argv: list[str] | None) -> StackConfig:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BASE_PORT", 54320)))
    parser.add_argument("--task-min-seconds", default=os.environ.get("TASK_MIN_SECONDS", "5"))
    parser.add_argument("--task-max-seconds", default=os.environ.get("TASK_MAX_SECONDS", "10"))
    parser.add_argument("--sweep-interval", type=float, default=5.0)
    args = parser.parse_args(argv)
    return StackConfig.from_base_port(
        data_dir=args.data_dir.resolve(),
        base_port=args.base_port,
        database_url=args.database_url or None,
        task_seconds=(args.task_min_seconds, args.task_max_seconds),
        sweep_interval_s=args.sweep_interval,
    )


def _children(cfg: StackConfig, database_url: str, local: LocalSecrets) -> list[ManagedProcess]:
    python = sys.executable
    webhook_secret, jwt_secret = local.webhook_secret, local.jwt_secret
    page_config = page_config_js(
        cfg.url(cfg.ports.submit), cfg.url(cfg.ports.realtime), local.anon_key
    )
    function_env = {
        "DATABASE_URL": database_url,
        "WEBHOOK_SECRET": webhook_secret,
        "PROCESS_JOB_URL": cfg.url(cfg.ports.process_job),
        "TASK_MIN_SECONDS": cfg.task_seconds[0],
        "TASK_MAX_SECONDS": cfg.task_seconds[1],
    }
    return [
        function_process("submit", cfg.ports.submit, {"DATABASE_URL": database_url}),
        function_process(
            "webhook",
            cfg.ports.webhook,
            {"WEBHOOK_SECRET": webhook_secret, "PROCESS_JOB_URL": function_env["PROCESS_JOB_URL"]},
        ),
        function_process("process_job", cfg.ports.process_job, function_env),
        ManagedProcess(
            "relay",
            [python, "-m", "devstack.relay"],
            env={"PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url},
        ),
        ManagedProcess(
            "realtime",
            [
                python,
                "-m",
                "devstack.realtime",
                "--database-url",
                database_url,
                "--port",
                str(cfg.ports.realtime),
            ],
            # The secret goes by environment: a command line is visible to every user's ps.
            env={"PYTHONUNBUFFERED": "1", "JWT_SECRET": jwt_secret},
            port=cfg.ports.realtime,
        ),
        ManagedProcess(
            "page",
            [python, "-m", "devstack.page_server", "--port", str(cfg.ports.page)],
            env={"PYTHONUNBUFFERED": "1", "PAGE_CONFIG_JS": page_config},
            port=cfg.ports.page,
        ),
    ]


def run(
    cfg: StackConfig, ready: threading.Event | None = None, stop: threading.Event | None = None
) -> int:
    """Run the stack until ``stop`` is set (or SIGINT/SIGTERM when run as a program)."""
    stop = stop or threading.Event()
    secrets = load_or_create_secrets(cfg.data_dir)
    postgres: EmbeddedPostgres | None = None
    database_url = cfg.database_url
    if database_url is None:
        print(f"[devstack] starting embedded Postgres in {cfg.data_dir / 'postgres'}", flush=True)
        postgres = embedded(cfg.data_dir / "postgres", cfg.ports.postgres).start()
        database_url = postgres.url
    started: list[ManagedProcess] = []
    sweeper: Sweeper | None = None
    try:
        applied = migrate.migrate(
            database_url,
            webhook_url=cfg.url(cfg.ports.webhook),
            webhook_secret=secrets.webhook_secret,
        )
        print(f"[devstack] migrations applied: {len(applied)}", flush=True)
        for child in _children(cfg, database_url, secrets):
            started.append(child.start())
        sweeper = Sweeper(
            cfg.url(cfg.ports.process_job), secrets.webhook_secret, cfg.sweep_interval_s
        ).start()
        print(
            f"\n[devstack] ready: open {cfg.url(cfg.ports.page)}\n"
            f"[devstack] jobs API {cfg.url(cfg.ports.submit)}/jobs"
            f" · Realtime ws://127.0.0.1:{cfg.ports.realtime}/realtime/v1"
            f" · database {database_url}\n[devstack] Ctrl-C stops everything\n",
            flush=True,
        )
        if ready is not None:
            ready.set()
        return Supervisor(started).run(stop)
    finally:
        if sweeper is not None:
            sweeper.stop()
        for child in reversed(started):
            child.stop()
        if postgres is not None:
            postgres.stop()
        print("[devstack] stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    cfg = _parse(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return run(cfg, stop=stop)


if __name__ == "__main__":
    sys.exit(main())
