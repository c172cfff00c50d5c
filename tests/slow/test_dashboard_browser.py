"""The operators' dashboard (frontend/dashboard.html, built into dist) in Debian's chromium
against the local stack's functions: after a scripted run of jobs its charts are drawn (pixels
of the series' colours on their canvases, and a screenshot kept in test-artifacts/), and
"Retry all shown" re-runs exactly the failed jobs the table counted: not a failed job older
than the table's 24 hours, not a cancelled one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from devstack.config import page_config_js
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, page_server
from tests.conftest import ROOT, fresh_database, get_server
from tests.local_stack import Stack, running_stack
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

ARTIFACTS = ROOT / "test-artifacts"
OPERATOR_KEY = "sb_secret_" + secrets.token_urlsafe(24)
TIMEOUT_MS = 30_000

# How many pixels of ``colour`` (#rrggbb) the first canvas under ``selector`` holds.
PIXELS_OF = """([selector, colour]) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas) return -1;
  const want = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && want.every((v, k) => Math.abs(data[i + k] - v) < 12)) count += 1;
  }
  return count;
}"""


@contextmanager
def dashboard_stack() -> Iterator[tuple[Stack, str]]:
    with (
        contextmanager(fresh_database)(get_server("embedded")) as database_url,
        running_stack(
            database_url,
            extra_env={"MAX_ATTEMPTS": "1"},
            submit_env={"SUPABASE_SECRET_KEY": OPERATOR_KEY},
        ) as stack,
        page_server(page_config_js(stack.url("submit"), "", "")) as page_url,
    ):
        yield stack, page_url


def statuses(stack: Stack, job_ids: list[str]) -> dict[str, tuple[str, int]]:
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "select job_id::text, status, run from job_results where job_id = any(%s::uuid[])",
            (job_ids,),
        ).fetchall()
    return {job_id: (status, run) for job_id, status, run in rows}


def test_the_dashboard_draws_its_charts_and_retries_exactly_the_failures_shown() -> None:
    with dashboard_stack() as (stack, page_url):
        done = [stack.submit(f"ok {i}", kind="noop") for i in range(6)]
        failed_a = [stack.submit("a", kind="fail", payload={"message": "boom A"}) for _ in range(3)]
        failed_b = [stack.submit("b", kind="fail", payload={"message": "boom B"}) for _ in range(2)]
        for job_id in done:
            stack.wait_for_status(job_id, "completed")
        for job_id in failed_a + failed_b:
            stack.wait_for_status(job_id, "failed")
        # Not shown: a failure from two days ago, and a cancelled job.
        old = stack.submit("old", kind="fail", payload={"message": "boom A"})
        stack.wait_for_status(old, "failed")
        cancelled = stack.submit("later", kind="noop", delay_seconds=3600)
        assert stack.request("submit", "POST", f"/jobs/{cancelled}/cancel")[0] == 200
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(
                "update job_results set finished_at = now() - interval '2 days' where job_id = %s",
                (old,),
            )

        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                expect.set_options(timeout=TIMEOUT_MS)
                page.goto(page_url + "dashboard.html")
                page.get_by_test_id("key-input").fill(OPERATOR_KEY)
                page.get_by_role("button", name="Connect").click()
                expect(page.get_by_test_id("poll-state")).to_have_attribute("data-state", "live")
                check_the_charts(page)
                check_the_retry(page, stack, failed_a + failed_b, [old, cancelled])
                assert errors == [], f"uncaught errors in the page: {errors}"
            finally:
                browser.close()


def check_the_charts(page: Page) -> None:
    expect(page.get_by_test_id("tile-running")).not_to_have_text("–")
    # Two polls: the depth chart has a line, not a point.
    wait_for(lambda: int(page.evaluate("document.body.dataset.polls || 0")) >= 2, timeout=30)
    completed = page.evaluate(PIXELS_OF, ["#chart-throughput", "#12b76a"])
    failed = page.evaluate(PIXELS_OF, ["#chart-throughput", "#f04438"])
    depth = page.evaluate(PIXELS_OF, ["#chart-depth", "#2563eb"])
    # The run fits in one 10-second bucket: its percentiles are one point of each series.
    latency = page.evaluate(PIXELS_OF, ["#chart-latency", "#0ba5ec"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    drawn = (completed, failed, depth, latency)
    assert completed > 20 and failed > 20 and depth > 5 and latency > 5, drawn


def check_the_retry(page: Page, stack: Stack, shown: list[str], not_shown: list[str]) -> None:
    body = page.get_by_test_id("failures-body")
    expect(body.locator("tr")).to_have_count(2)
    expect(body.locator("tr").first).to_have_attribute("data-jobs", "3")
    expect(page.get_by_test_id("failures-note")).to_contain_text("5 failed jobs in 2 groups")
    page.get_by_test_id("retry-shown").click()
    expect(page.locator("body")).to_have_attribute("data-retried", "5")
    after = statuses(stack, shown + not_shown)
    assert {after[job_id][1] for job_id in shown} == {2}  # each a second run
    assert after[not_shown[0]] == ("failed", 1) and after[not_shown[1]] == ("cancelled", 1)
