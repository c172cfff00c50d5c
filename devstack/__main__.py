"""``python -m devstack`` (``make run``): the whole system on this machine, in one terminal.

Starts the embedded Postgres (or uses DATABASE_URL), applies the migrations, points the queue
trigger at the local webhook, then runs the three functions under functions-framework, the
pg_net relay, the Realtime gateway, the sweeper tick and a static server for the page, with
prefixed logs. Ctrl-C stops every child; a second run reuses the data.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from devstack import page_build
from devstack.config import (
    DEFAULT_MAX_WORKERS,
    LocalSecrets,
    StackConfig,
    default_data_dir,
    load_or_create_secrets,
    page_config_js,
)
from devstack.entrypoints import prog
from devstack.postgres import migrate
from devstack.postgres.embedded import EmbeddedPostgres, embedded
from devstack.services import ManagedProcess, function_process
from devstack.settings import StackSettings
from devstack.supervisor import Supervisor
from devstack.sweeper import Sweeper


def say(line: str) -> None:
    """One progress line: each step that can take a second says what it does first."""
    print(f"[devstack] {line}", flush=True)


def _parse(argv: list[str] | None) -> StackConfig:
    env = StackSettings.from_env()
    parser = argparse.ArgumentParser(prog=prog("python -m devstack"), description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument(
        "--database-url",
        default=env.database_url,
        help="prefer the DATABASE_URL variable: a command line (and a password in it) is"
        " visible to ps",
    )
    parser.add_argument("--base-port", type=int, default=env.base_port)
    parser.add_argument("--task-min-seconds", default=env.task_min_seconds)
    parser.add_argument("--task-max-seconds", default=env.task_max_seconds)
    parser.add_argument("--sweep-interval", type=float, default=2.0)
    parser.add_argument(
        "--max-workers",
        type=int,
        default=DEFAULT_MAX_WORKERS,
        help="the most process_job drains at once",
    )
    args = parser.parse_args(argv)
    return StackConfig.from_base_port(
        data_dir=args.data_dir.resolve(),
        base_port=args.base_port,
        database_url=args.database_url or None,
        task_seconds=(args.task_min_seconds, args.task_max_seconds),
        sweep_interval_s=args.sweep_interval,
        max_workers=args.max_workers,
        auth_signing=env.auth_signing,
    )


def _page_dir() -> Path | None:
    """The built page (``make page``), built here when missing; None when it cannot be."""
    if (page_build.DIST / "index.html").is_file():
        return page_build.DIST
    say(f"building the page into {page_build.DIST}")
    try:
        return page_build.build()
    except (page_build.PageBuildError, OSError) as error:
        say(f"no page: {error}; the jobs API and Realtime run without it")
        return None


def _children(
    cfg: StackConfig, database_url: str, local: LocalSecrets, page_dir: Path | None
) -> list[ManagedProcess]:
    python = sys.executable
    webhook_secret, jwt_secret = local.webhook_secret, local.jwt_secret
    supabase_url = cfg.url(cfg.ports.realtime)
    page_config = page_config_js(cfg.url(cfg.ports.submit), supabase_url, local.publishable_key)
    function_env = {
        "DATABASE_URL": database_url,
        "WEBHOOK_SECRET": webhook_secret,
        "PROCESS_JOB_URL": cfg.url(cfg.ports.process_job),
        "TASK_MIN_SECONDS": cfg.task_seconds[0],
        "TASK_MAX_SECONDS": cfg.task_seconds[1],
    }
    children = [
        function_process(
            "submit",
            cfg.ports.submit,
            # User tokens (own jobs): ES256 ones through the local Auth's JWKS, legacy HS256
            # ones through the JWT secret, as on a hosted project.
            {
                "DATABASE_URL": database_url,
                "SUPABASE_URL": supabase_url,
                "SUPABASE_JWT_SECRET": jwt_secret,
                # Operators (GET /stats, the dashboard) present one of these keys.
                "SUPABASE_SECRET_KEY": local.secret_key,
                "SUPABASE_SERVICE_ROLE_KEY": local.service_role_key,
            },
        ),
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
            [python, "-m", "devstack.realtime", "--port", str(cfg.ports.realtime)],
            # Secrets, and the database URL with its password, go by environment: a command
            # line is visible to every user's ps (test_no_secret_in_argv.py).
            env={
                "PYTHONUNBUFFERED": "1",
                "DATABASE_URL": database_url,
                "SUPABASE_JWT_SECRET": jwt_secret,
                "JWT_SIGNING_KEY": local.es256_pem,
                "JWT_SIGNING_KID": local.es256_kid,
                "SUPABASE_PUBLISHABLE_KEY": local.publishable_key,
                "SUPABASE_SECRET_KEY": local.secret_key,
                # AUTH_SIGNING=HS256 makes the local Auth sign as a legacy project does.
                "AUTH_SIGNING": cfg.auth_signing,
            },
            port=cfg.ports.realtime,
        ),
    ]
    if page_dir is not None:
        children.append(
            ManagedProcess(
                "page",
                [
                    python,
                    "-m",
                    "devstack.page_server",
                    "--port",
                    str(cfg.ports.page),
                    "--directory",
                    str(page_dir),
                ],
                env={"PYTHONUNBUFFERED": "1", "PAGE_CONFIG_JS": page_config},
                port=cfg.ports.page,
            )
        )
    return children


def banner(
    cfg: StackConfig, database_url: str, local: LocalSecrets, page: bool, took_s: float
) -> str:
    """What a newcomer needs for the README's examples, printed once everything answers."""
    api = cfg.url(cfg.ports.submit)
    supabase = cfg.url(cfg.ports.realtime)
    rows = [
        ("page", cfg.url(cfg.ports.page) if page else "(not built: run make page)"),
        ("jobs API", f"{api}/jobs"),
        (
            "Supabase URL",
            f"{supabase}  (Realtime: ws://127.0.0.1:{cfg.ports.realtime}/realtime/v1)",
        ),
        ("publishable key", local.publishable_key),
        ("anon key (legacy)", local.anon_key),
        ("database", database_url),
        ("data", f"{cfg.data_dir}  (make clean-data forgets it)"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"[devstack] ready in {took_s:.1f} s"]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    lines += [
        "  a job from a terminal:",
        f"    FUNCTIONS_URL={api} SUPABASE_URL={supabase}"
        f" SUPABASE_PUBLISHABLE_KEY={local.publishable_key} \\",
        "    .venv/bin/supajobs 'Weekly report' --payload '{\"seconds\": 3}' --wait",
        "[devstack] Ctrl-C stops everything",
    ]
    return "\n" + "\n".join(lines) + "\n"


def run(
    cfg: StackConfig, ready: threading.Event | None = None, stop: threading.Event | None = None
) -> int:
    """Run the stack until ``stop`` is set (or SIGINT/SIGTERM when run as a program)."""
    stop = stop or threading.Event()
    began = time.monotonic()
    secrets = load_or_create_secrets(cfg.data_dir)
    postgres: EmbeddedPostgres | None = None
    database_url = cfg.database_url
    if database_url is None:
        cluster = cfg.data_dir / "postgres"
        first = not (cluster / "pgdata" / "PG_VERSION").exists()
        say(
            f"{'creating and starting' if first else 'starting'} the embedded Postgres in {cluster}"
        )
        postgres = embedded(cluster, cfg.ports.postgres).start()
        database_url = postgres.url
    started: list[ManagedProcess] = []
    sweeper: Sweeper | None = None
    try:
        say("applying migrations")
        applied = migrate.migrate(
            database_url,
            webhook_url=cfg.url(cfg.ports.webhook),
            webhook_secret=secrets.webhook_secret,
            max_workers=cfg.max_workers,
        )
        say(f"migrations applied: {len(applied)} new")
        page_dir = _page_dir()
        # Real pg_net's worker sends this database's requests itself; the relay is its stand-in.
        real_pg_net = migrate.real_pg_net(database_url)
        if real_pg_net:
            say("pg_net serves this database: no relay")
        say("starting the functions, the pg_net relay, the Realtime gateway and the page")
        for child in _children(cfg, database_url, secrets, page_dir):
            if not (real_pg_net and child.name == "relay"):
                started.append(child.start())
        sweeper = Sweeper(database_url, cfg.sweep_interval_s).start()
        took = time.monotonic() - began
        print(banner(cfg, database_url, secrets, page_dir is not None, took), flush=True)
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
