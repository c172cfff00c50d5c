"""The whole local stack for the browser tests: the functions and the relay (tests/local_stack.py),
Realtime gateway on a thread, and the built page (what `make page` writes to frontend/dist/,
built here into a temporary folder with a generated config.js beside it) on a plain static file
server, as any static host would serve it."""

from __future__ import annotations

import functools
import secrets
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack import page_build
from devstack.auth.keys import generate_jwt_secret, mint_keys
from devstack.auth.signing import ES256, generate_es256_pem, new_kid
from devstack.config import page_config_js
from devstack.postgres.embedded import free_port
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from tests.local_stack import Stack, running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SUPABASE_UMD = page_build.FRONTEND / "node_modules" / page_build.SUPABASE_JS / page_build.UMD_BUNDLE


@dataclass
class BrowserStack:
    """Everything the page talks to, and where it is served."""

    stack: Stack
    jwt_secret: str
    anon_key: str
    realtime_port: int
    page_url: str
    gateway: RunningGateway | None = None
    # The local Auth's signing: ES256 (one key for every start, as a project keeps its key)
    # or the legacy HS256 secret.
    signing_algorithm: str = ES256
    es256_pem: str = field(default_factory=generate_es256_pem)
    es256_kid: str = field(default_factory=new_kid)
    api_keys: dict[str, str] = field(default_factory=dict)  # opaque key -> role

    @property
    def database_url(self) -> str:
        return self.stack.database_url

    def config_js(self, supabase_url: str | None = None) -> str:
        """The page's configuration for this stack (or for another Realtime address)."""
        realtime = supabase_url or f"http://127.0.0.1:{self.realtime_port}"
        return page_config_js(self.stack.url("submit"), realtime, self.anon_key)

    def start_gateway(self) -> None:
        """Start the gateway (again) on its fixed port; returns once it follows changes."""
        assert self.gateway is None, "the gateway is already running"
        config = GatewayConfig(
            self.database_url,
            self.jwt_secret,
            port=self.realtime_port,
            signing_algorithm=self.signing_algorithm,
            es256_pem=self.es256_pem,
            es256_kid=self.es256_kid,
            api_keys=self.api_keys,
        )
        self.gateway = start_in_thread(config)

    def stop_gateway(self) -> None:
        """Stop the gateway: its clients see their connection close."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None


class QuietStaticHandler(SimpleHTTPRequestHandler):
    """Python's plain static file server, without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server(config_js: str | None) -> Iterator[str]:
    """The built page served as static files on loopback, and nothing else: its config.js is
    ``config_js``, or the build's own template when None."""
    with tempfile.TemporaryDirectory(prefix="supajobs-page-") as folder:
        site = page_build.build(Path(folder) / "dist")
        if config_js is not None:
            (site / "config.js").write_text(config_js)
        with static_server(site) as url:
            yield url


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    handler = functools.partial(QuietStaticHandler, directory=str(directory))
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
    database_url: str,
    task_env: Mapping[str, str] | None = None,
    signing_algorithm: str = ES256,
    publishable_key: bool = False,
) -> Iterator[BrowserStack]:
    """The functions, the relay, the Realtime gateway and the page, all on loopback;
    ``task_env`` adds to process_job's environment (tests/local_stack.py's FAST_TASKS). The local
    Auth signs with ``signing_algorithm``; submit verifies either kind, as deployed. With
    ``publishable_key`` the page is configured with an opaque ``sb_publishable_`` key instead
    of the legacy anon key."""
    if not SUPABASE_UMD.exists():
        raise RuntimeError(f"{SUPABASE_UMD} is missing: run `npm ci` in frontend/ (make test does)")
    jwt_secret = generate_jwt_secret()
    anon_key = mint_keys(jwt_secret).anon_key
    api_keys: dict[str, str] = {}
    if publishable_key:
        anon_key = "sb_publishable_" + secrets.token_urlsafe(24)
        api_keys[anon_key] = "anon"
    realtime_port = free_port()
    submit_env = {
        "SUPABASE_JWT_SECRET": jwt_secret,
        "SUPABASE_URL": f"http://127.0.0.1:{realtime_port}",
    }
    with running_stack(database_url, extra_env=task_env, submit_env=submit_env) as stack:
        config_js = page_config_js(
            stack.url("submit"), f"http://127.0.0.1:{realtime_port}", anon_key
        )
        with page_server(config_js) as page_url:
            running = BrowserStack(
                stack,
                jwt_secret,
                anon_key,
                realtime_port,
                page_url,
                signing_algorithm=signing_algorithm,
                api_keys=api_keys,
            )
            running.start_gateway()
            try:
                yield running
            finally:
                running.stop_gateway()
