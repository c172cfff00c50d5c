"""The whole local stack for the browser tests: the functions and the relay (tests/stack.py), the
Realtime gateway on a thread, and frontend/ on a static server whose /config.js is generated in
memory, so nothing is written into the working tree."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.config import page_config_js
from devstack.keys import generate_jwt_secret, mint_keys
from devstack.page_server import FRONTEND, PageHandler
from devstack.postgres import free_port
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from tests.stack import Stack, running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SUPABASE_UMD = (
    FRONTEND / "node_modules" / "@supabase" / "supabase-js" / "dist" / "umd" / "supabase.js"
)


@dataclass
class BrowserStack:
    """Everything the page talks to, and where it is served."""

    stack: Stack
    jwt_secret: str
    realtime_port: int
    page_url: str
    gateway: RunningGateway | None = None

    @property
    def database_url(self) -> str:
        return self.stack.database_url

    def start_gateway(self) -> None:
        """Start the gateway (again) on its fixed port; returns once it follows changes."""
        assert self.gateway is None, "the gateway is already running"
        config = GatewayConfig(self.database_url, self.jwt_secret, port=self.realtime_port)
        self.gateway = start_in_thread(config)

    def stop_gateway(self) -> None:
        """Stop the gateway: its clients see their connection close."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None


class QuietPageHandler(PageHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server(config_js: str) -> Iterator[str]:
    """frontend/ over HTTP on loopback, with ``config_js`` answered at /config.js."""
    handler = functools.partial(
        type("Handler", (QuietPageHandler,), {"config_js": config_js.encode("utf-8")}),
        directory=str(FRONTEND),
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def running_browser_stack(
    database_url: str, task_env: Mapping[str, str] | None = None
) -> Iterator[BrowserStack]:
    """The functions, the relay, the Realtime gateway and the page, all on loopback;
    ``task_env`` adds to process_job's environment (tests/stack.py's FAST_TASKS)."""
    if not SUPABASE_UMD.exists():
        raise RuntimeError(f"{SUPABASE_UMD} is missing: run `npm ci` in frontend/ (make test does)")
    jwt_secret = generate_jwt_secret()
    anon_key = mint_keys(jwt_secret).anon_key
    realtime_port = free_port()
    with running_stack(database_url, extra_env=task_env) as stack:
        config_js = page_config_js(
            stack.url("submit"), f"http://127.0.0.1:{realtime_port}", anon_key
        )
        with page_server(config_js) as page_url:
            running = BrowserStack(stack, jwt_secret, realtime_port, page_url)
            running.start_gateway()
            try:
                yield running
            finally:
                running.stop_gateway()
