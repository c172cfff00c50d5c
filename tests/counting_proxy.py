"""A real HTTP proxy on loopback in front of process_job: it forwards every call and keeps what
each one carried and how process_job answered, so a test counts the runs it started."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    body: bytes
    status: int | None = None  # None while process_job has not answered
    answer: bytes = b""


@dataclass
class CountingProxy:
    target: str
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def snapshot(self) -> list[Call]:
        with self.lock:
            return list(self.calls)

    def answered(self) -> list[Call]:
        return [c for c in self.snapshot() if c.status is not None]


@contextmanager
def counting_proxy(target: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(target)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            call = Call(body)
            with proxy.lock:
                proxy.calls.append(call)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(proxy.target, body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=900) as response:
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, answer = error.code, error.read()
            except OSError:
                status, answer = 502, b'{"error": "process_job unreachable"}'
            with proxy.lock:
                call.status, call.answer = status, answer
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
