"""A static server for the built page (``frontend/dist/``, see ``devstack.page_build``) that
answers ``/config.js`` with the stack's generated configuration, so the page gets its settings
without any file written into the tree."""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.page_build import DIST


class PageHandler(SimpleHTTPRequestHandler):
    config_js: bytes = b""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/config.js":
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def serve(port: int, config_js: str, directory: Path = DIST) -> ThreadingHTTPServer:
    if not (directory / "index.html").is_file():
        raise FileNotFoundError(f"no page in {directory}: build it with `make page`")
    handler = functools.partial(
        type("Handler", (PageHandler,), {"config_js": config_js.encode("utf-8")}),
        directory=str(directory),
    )
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(description="serve the built page with a generated config.js")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, default=DIST)
    args = parser.parse_args()
    from devstack.settings import PageServerSettings

    server = serve(args.port, PageServerSettings.from_env().config_js, args.directory)
    server.serve_forever()


if __name__ == "__main__":
    main()
