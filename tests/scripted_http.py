"""A real HTTP server on loopback that answers a script of responses in turn (the last one
repeats), and records when each request came."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


@dataclass
class Script:
    replies: Sequence[Reply]
    port: int = 0
    times: list[float] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def count(self) -> int:
        with self.lock:
            return len(self.times)

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            self.times.append(time.monotonic())
            self.paths.append(path)
            return self.replies[min(len(self.times), len(self.replies)) - 1]


@contextmanager
def scripted_server(*replies: Reply) -> Iterator[Script]:
    script = Script(replies)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the invokers expect
        # One write per response: headers and body written apart meet Nagle's algorithm and
        # the client's delayed ACK, a 40 ms stall per request on a kept-alive connection.
        wbufsize = -1

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            reply = script.next_reply(self.path)
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    script.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
