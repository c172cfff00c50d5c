"""Cold-start cost of the first user token in a fresh submit process: importing PyJWT with
cryptography (deferred until a token arrives), then fetching the project's JWKS from a
loopback server and verifying one ES256 token (functions.jwks, functions.core.user_tokens)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.auth.signing import SigningKeys
from devstack.services import ROOT

CODE = """
import sys, time
began = time.perf_counter()
import functions.submit, functions.jwks, functions.core.user_tokens as tokens
imported = time.perf_counter()
import jwt
crypto = time.perf_counter()
keys = functions.jwks.ProjectKeys(sys.argv[1])
caller = tokens.verify(sys.argv[2], keys, time.time())
verified = time.perf_counter()
print(imported - began, crypto - imported, verified - crypto)
"""


@contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[str]:
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/auth/v1/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def first_token_ms() -> tuple[float, float, float]:
    """(import of the submit function's modules, PyJWT+cryptography import, JWKS fetch and
    first ES256 verify), each in ms, in one fresh interpreter."""
    import time
    import uuid

    keys = SigningKeys.generate("bench-secret-of-at-least-32-characters!!")
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated"}
    token = keys.sign({**claims, "exp": now + 600, "iat": now})
    with jwks_server(keys.jwks()) as url:
        out = subprocess.run(
            [sys.executable, "-c", CODE, url, token],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
    first, second, third = (float(x) * 1000 for x in out.stdout.split())
    return first, second, third


if __name__ == "__main__":
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        modules, crypto, verify = first_token_ms()
        print(
            f"import submit {modules:.1f} ms, PyJWT+cryptography {crypto:.1f} ms,"
            f" JWKS+verify {verify:.1f} ms"
        )
