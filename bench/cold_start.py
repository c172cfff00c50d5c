"""Metric 5: cold start of each function: the import of its module in a fresh interpreter, the
first response of a new functions-framework process (from spawn to a 2xx/4xx answer, building
the handler on the way), and the size of its deployment package when ``serverless package`` has
left one in .serverless/. Beside them, the floor in the same run: the first response of a
functions-framework process serving a function that only answers (the interpreter, the
framework's own imports, gunicorn), which no function of ours can go under."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import first_token
from bench.context import Context
from bench.rows import OURS, Row
from bench.stats import median
from devstack.postgres.embedded import free_port
from devstack.services import FUNCTIONS, ROOT, ManagedProcess, function_process
from functions.core.signatures import parse_secret, sign

IMPORT_CODE = (
    "import time; began = time.perf_counter(); import functions.{name}; "
    "print(time.perf_counter() - began)"
)
FLOOR = "framework_floor"
FLOOR_SOURCE = f"def {FLOOR}(request):\n    return 'ok'\n"
# A fixed Standard Webhooks secret: the webhook's first request is a signed wake-up.
SECRET = "whsec_YmVuY2gtY29sZC1zdGFydC13ZWJob29rLXNlY3JldC0zMg=="


def import_seconds(name: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_CODE.format(name=name)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def signed_headers(body: bytes) -> dict[str, str]:
    now = int(time.time())
    signature = sign([parse_secret(SECRET)], "wake_bench", now, body)
    return {
        "Content-Type": "application/json",
        "webhook-id": "wake_bench",
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }


def _request(name: str) -> tuple[str, str, bytes, dict[str, str]]:
    auth = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    if name == "submit":
        return "GET", "/jobs?limit=1", b"", {}
    if name == "webhook":
        body = json.dumps({"wake_id": "wake_" + uuid.uuid4().hex})
        return "POST", "/", body.encode(), signed_headers(body.encode())
    return "POST", "/", b"{}", auth


def _floor_process(port: int, ctx: Context, source_dir: Path) -> ManagedProcess:
    """The same server, started the same way, serving a function that only answers."""
    source = source_dir / f"{FLOOR}.py"
    source.write_text(FLOOR_SOURCE)
    ours = function_process("webhook", port, {}, ctx.log)
    argv = list(ours.argv)
    argv[argv.index("--target") + 1] = FLOOR
    argv[argv.index("--source") + 1] = str(source)
    return dataclasses.replace(ours, name=FLOOR, argv=argv, port=None)


def first_response_seconds(name: str, database_url: str, ctx: Context) -> float:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "WEBHOOK_SECRET": SECRET,
        # A port nothing listens on: the webhook's background call fails and is only logged.
        "PROCESS_JOB_URL": f"http://127.0.0.1:{free_port()}",
    }
    with tempfile.TemporaryDirectory() as scratch:
        if name == FLOOR:
            process = _floor_process(port, ctx, Path(scratch))
        else:
            process = dataclasses.replace(function_process(name, port, env, ctx.log), port=None)
        return _time_first_response(name, process, port)


def _time_first_response(name: str, process: ManagedProcess, port: int) -> float:
    method, path, body, headers = _request(name)
    began = time.perf_counter()
    process.start()
    try:
        deadline = began + 60
        while time.perf_counter() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request(method, path, body or None, headers)
                status = conn.getresponse().status
                elapsed = time.perf_counter() - began
                conn.close()
            except OSError:
                time.sleep(0.005)
                continue
            if status >= 500:
                raise RuntimeError(f"{name} answered {status} to its first request")
            return elapsed
        raise TimeoutError(f"{name} did not answer within 60 s")
    finally:
        process.stop()


def package_kib(name: str) -> float | None:
    zips = sorted(Path(ROOT, ".serverless").glob("*.zip"))
    matches = [z for z in zips if z.stem == name or z.stem.endswith(("-" + name, "_" + name))]
    return matches[0].stat().st_size / 1024 if matches else None


def run(ctx: Context) -> list[Row]:
    repeats = ctx.sizes.cold_repeats
    imports: dict[str, list[float]] = {name: [] for name in FUNCTIONS}
    firsts: dict[str, list[float]] = {name: [] for name in (*FUNCTIONS, FLOOR)}
    for attempt in range(repeats):
        ctx.say(f"cold start: round {attempt + 1}/{repeats}")
        for name in FUNCTIONS:
            imports[name].append(import_seconds(name) * 1000)
        for name in firsts:
            firsts[name].append(first_response_seconds(name, ctx.dbs.ours, ctx) * 1000)
    rows = []
    for name in FUNCTIONS:
        rows.append(
            Row(
                f"import_{name}",
                f"import functions.{name}, fresh process",
                "ms",
                False,
                {OURS: median(imports[name])},
            )
        )
    for name in FUNCTIONS:
        rows.append(
            Row(
                f"first_response_{name}",
                f"{name}: spawn to first response",
                "ms",
                False,
                {OURS: median(firsts[name])},
            )
        )
    rows.append(
        Row(
            "first_response_floor",
            "functions-framework, a function that only answers: spawn to first response",
            "ms",
            False,
            {OURS: median(firsts[FLOOR])},
        )
    )
    # The first user token: PyJWT and cryptography load then, not at cold start (a demo-mode
    # request never pays), and the JWKS is fetched once.
    tokens = [first_token.first_token_ms() for _ in range(repeats)]
    rows.append(
        Row(
            "first_token_import",
            "submit: first user token, import PyJWT + cryptography",
            "ms",
            False,
            {OURS: median([t[1] for t in tokens])},
        )
    )
    rows.append(
        Row(
            "first_token_verify",
            "submit: first user token, JWKS fetch (loopback) + ES256 verify",
            "ms",
            False,
            {OURS: median([t[2] for t in tokens])},
        )
    )
    layer = Path(ROOT, ".serverless", "pythonDeps.zip")
    layer_note = f"+ {layer.stat().st_size / 1024:,.0f} KiB deps layer" if layer.exists() else ""
    for name in FUNCTIONS:
        size = package_kib(name)
        rows.append(
            Row(
                f"package_{name}",
                f"{name}: deployment package",
                "KiB",
                False,
                {OURS: size} if size is not None else {},
                note=layer_note if size is not None else "no .serverless/*.zip",
            )
        )
    return rows
