"""Metric: end to end, from sending ``POST /jobs`` (answered 202) to a subscriber seeing the job
``completed``, for no-op jobs, through everything a hosted project runs: the submit function,
the queue trigger, the relay paced like pg_net (``python -m devstack.relay``'s default), the
webhook, process_job, the task, and the Realtime gateway. Two subscribers watch every job at
once: supabase-js in Debian's Chromium (the pinned UMD bundle the page ships), and a minimal
raw-WebSocket client (bench.phoenix).

Warm: the next job is submitted as soon as the last one is seen completed, so a worker that
lingers for new work still holds the queue. Cold: each job waits ``e2e_cold_gap_s`` after the
last, so it goes through the webhook to a fresh drain. The cold run also gives dispatch
latency through the webhook (the job row's started_at less its created_at, both the
database's clock)."""

from __future__ import annotations

import asyncio
import functools
import http.client
import http.server
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench import ours
from bench.context import Context
from bench.phoenix import Subscriber, socket_url
from bench.realtime_latency import gateway
from bench.rows import OURS, Row
from bench.stats import percentile

CHROMIUM = Path("/usr/bin/chromium")
SUPABASE_UMD = (
    Path(__file__).resolve().parent.parent
    / "frontend/node_modules/@supabase/supabase-js/dist/umd/supabase.js"
)
TIMEOUT_S = 30.0
WARM_GAP_S = 0.005
PERCENTILES = (50, 95, 99)

# In the browser: one channel for UPDATEs of job_results; the time (Unix ms, sub-ms) each
# job was first seen completed.
BROWSER_SUBSCRIBE = """([url, key]) => new Promise((resolve, reject) => {
  window.__done = {};
  const client = supabase.createClient(url, key);
  client.channel("e2e").on("postgres_changes",
    {event: "UPDATE", schema: "public", table: "job_results"},
    (change) => {
      const at = performance.timeOrigin + performance.now();
      if (change.new.status === "completed" && !(change.new.job_id in window.__done))
        window.__done[change.new.job_id] = at;
    }).subscribe((status) => {
      if (status === "SUBSCRIBED") resolve(true);
      else if (status !== "CLOSED") reject(new Error(status));
    });
})"""


class Submitter:
    """POST /jobs on one kept-alive connection; the job id."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._body = json.dumps({"task_name": ours.TASK_NAME, **ours.NOOP}).encode()

    def submit(self) -> str:
        self._conn.request("POST", "/jobs", self._body, {"Content-Type": "application/json"})
        response = self._conn.getresponse()
        answer = json.loads(response.read())
        if response.status != 202:
            raise RuntimeError(f"submit answered {response.status}: {answer}")
        return str(answer["job_id"])

    def fresh(self) -> None:
        """Connect anew, untimed: the server may close a connection after any response."""
        self._conn.close()
        self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
        self._conn.connect()

    def close(self) -> None:
        self._conn.close()


class Completions:
    """What the raw subscriber saw: the time each job was first seen completed."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Event] = {}

    def on_frame(self, frame: str, at: float) -> None:
        message = json.loads(frame)
        if message.get("event") != "postgres_changes":
            return
        record = message["payload"]["data"].get("record") or {}
        job_id = str(record.get("job_id"))
        if record.get("status") == "completed" and job_id not in self.at:
            self.at[job_id] = at
            if job_id in self._waiting:
                self._waiting[job_id].set()

    async def wait(self, job_id: str) -> None:
        if job_id in self.at:
            return
        event = self._waiting.setdefault(job_id, asyncio.Event())
        await asyncio.wait_for(event.wait(), TIMEOUT_S)


@contextmanager
def _minimal_page() -> Iterator[str]:
    """A page with nothing but supabase-js, served on loopback (a browser page needs an
    origin of its own for its WebSocket); its URL."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        shutil.copy(SUPABASE_UMD, Path(folder) / "supabase.js")
        (Path(folder) / "index.html").write_text(
            '<!doctype html><title>e2e</title><script src="supabase.js"></script>'
        )

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=folder)
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
        finally:
            server.shutdown()
            server.server_close()


async def _browser(url: str, key: str, page_url: str) -> tuple[Any, Any]:
    """(playwright, page), subscribed."""
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
    page = await browser.new_page()
    await page.goto(page_url)
    await page.evaluate(BROWSER_SUBSCRIBE, [url.removesuffix("/realtime/v1"), key])
    return playwright, page


async def _run(
    ctx: Context, submitter: Submitter, raw: Completions, jobs: int, gap_s: float
) -> dict[str, float]:
    """Submit ``jobs`` one at a time; each one's send time."""
    sent: dict[str, float] = {}
    for _ in range(jobs):
        await asyncio.to_thread(submitter.fresh)
        began = time.time()
        job_id = await asyncio.to_thread(submitter.submit)
        sent[job_id] = began
        await raw.wait(job_id)
        await asyncio.sleep(gap_s)
    return sent


def _latencies(sent: dict[str, float], seen: dict[str, float], scale: float) -> list[float]:
    return [seen[j] / scale * 1000 - sent[j] * 1000 for j in sent if j in seen]


def _dispatch(database_url: str, job_ids: list[str]) -> list[float]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select extract(epoch from started_at - created_at) * 1000 from public.job_results"
            " where job_id = any(%s::uuid[]) and started_at is not null",
            (job_ids,),
        ).fetchall()
    return [float(r[0]) for r in rows]


async def _measure(ctx: Context) -> dict[str, list[float]]:
    sizes = ctx.sizes
    samples: dict[str, list[float]] = {}
    browser = CHROMIUM.exists() and SUPABASE_UMD.exists()
    if not browser:
        ctx.say(f"e2e: no {CHROMIUM} or supabase-js bundle: the browser rows are skipped")
    with (
        gateway(ctx.dbs.ours, ctx) as (url, key),
        ours.submit_function(ctx.dbs.ours, ctx.log) as port,
        _minimal_page() as page_url,
    ):
        dispatch = ours.Dispatch(ctx.dbs.ours, ctx.log)
        dispatch.launch()
        async with dispatch:
            raw = Completions()
            subscriber = Subscriber(socket_url(url, key), "e2e", raw.on_frame)
            await subscriber.start()
            playwright, page = await _browser(url, key, page_url) if browser else (None, None)
            submitter = Submitter(port)
            try:
                await _run(ctx, submitter, raw, 3, WARM_GAP_S)  # first requests' costs
                for mode, jobs, gap in (
                    ("warm", sizes.e2e_jobs, WARM_GAP_S),
                    ("cold", sizes.e2e_cold_jobs, sizes.e2e_cold_gap_s),
                ):
                    ctx.say(f"e2e: {jobs} jobs, {mode} ({gap:g} s apart)")
                    sent = await _run(ctx, submitter, raw, jobs, gap)
                    samples[f"{mode}_raw"] = _latencies(sent, raw.at, 1.0)
                    if page is not None:
                        deadline = time.monotonic() + TIMEOUT_S
                        seen: dict[str, float] = {}
                        while time.monotonic() < deadline:
                            seen = await page.evaluate("() => window.__done")
                            if all(j in seen for j in sent):
                                break
                            await asyncio.sleep(0.1)
                        samples[f"{mode}_js"] = _latencies(sent, seen, 1000.0)
                        missing = sum(j not in seen for j in sent)
                        if missing:
                            ctx.say(f"e2e: the browser never saw {missing} of {len(sent)}")
                    if mode == "cold":
                        samples["dispatch_cold"] = _dispatch(ctx.dbs.ours, list(sent))
            finally:
                submitter.close()
                await subscriber.close()
                if playwright is not None and page is not None:
                    await page.context.browser.close()
                    await playwright.stop()
    ours.reset(ctx.dbs.ours)
    return samples


TITLES = {
    "warm_raw": "e2e {p}, POST to completed seen, warm, raw websocket",
    "warm_js": "e2e {p}, POST to completed seen, warm, supabase-js",
    "cold_raw": "e2e {p}, POST to completed seen, cold, raw websocket",
    "cold_js": "e2e {p}, POST to completed seen, cold, supabase-js",
}


def run(ctx: Context) -> list[Row]:
    samples = asyncio.run(_measure(ctx))
    rows = []
    for name, title in TITLES.items():
        for p in PERCENTILES:
            row = Row(f"e2e_{name}_p{p}", title.format(p=f"p{p}"), "ms", False)
            if samples.get(name):
                row.values[OURS] = percentile(samples[name], p)
            else:
                row.note = "not measured"
            rows.append(row)
    for p in (50, 99):
        row = Row(
            f"dispatch_cold_p{p}",
            f"dispatch latency p{p}, cold: webhook, relay paced like pg_net",
            "ms",
            False,
        )
        if samples.get("dispatch_cold"):
            row.values[OURS] = percentile(samples["dispatch_cold"], p)
        rows.append(row)
    return rows
