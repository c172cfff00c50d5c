"""The job lifecycle on the page, in Debian's chromium against the whole local stack: a progress
bar that moves live, cancel and retry buttons, the status filter, the detail view with its
events, and the delayed-start field."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, BrowserStack, running_browser_stack
from tests.conftest import fresh_database, get_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

TASK_ENV = {"TASK_MAX_SECONDS": "20"}
LIVE_TIMEOUT_MS = 20_000

# Records every distinct progress value a row's bar shows, from the moment it is installed.
PROGRESS_RECORDER = """(jobId) => {
  window.__progress = [];
  const seen = () => {
    const bar = document.querySelector(`tr[data-job-id="${jobId}"] [data-testid=job-progress]`);
    if (bar && !bar.hidden && bar.value !== window.__progress.at(-1)) {
      window.__progress.push(bar.value);
    }
  };
  new MutationObserver(seen).observe(document.querySelector('[data-testid=jobs-body]'), {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  setInterval(seen, 50);
}"""


@pytest.fixture(scope="module")
def browser_stack() -> Iterator[BrowserStack]:
    with (
        contextmanager(fresh_database)(get_server("embedded")) as database_url,
        running_browser_stack(database_url, TASK_ENV) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        chromium = launch(driver)
        yield chromium
        chromium.close()


def launch(driver: Playwright) -> Browser:
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture
def page(browser: Browser, browser_stack: BrowserStack) -> Iterator[Page]:
    expect.set_options(timeout=LIVE_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(browser_stack.page_url)
    expect(opened.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    yield opened
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def row(page: Page, job_id: str) -> Any:
    return page.locator(f'tr[data-job-id="{job_id}"]')


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def test_a_running_job_shows_its_progress_live_and_is_cancelled_from_the_page(
    page: Page, browser_stack: BrowserStack
) -> None:
    job_id = browser_stack.stack.submit(unique("Long"), kind="simulate", payload={"seconds": 15})
    job = row(page, job_id)
    expect(job).to_have_attribute("data-status", "running")
    page.evaluate(PROGRESS_RECORDER, job_id)
    bar = job.get_by_test_id("job-progress")
    expect(bar).to_be_visible()
    expect(job.get_by_test_id("job-progress-message")).to_have_text(re.compile(r"^\d+ of 15 s$"))
    page.wait_for_function("() => window.__progress.length >= 3")  # it moves, live
    values = page.evaluate("window.__progress")
    assert values == sorted(values) and values[-1] > values[0], values

    job.get_by_test_id("job-cancel").click()
    expect(job).to_have_attribute("data-status", "cancelled", timeout=10_000)
    expect(job.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(bar).to_be_hidden()
    expect(job.get_by_test_id("job-cancel")).to_be_hidden()
    expect(job.get_by_test_id("job-retry")).to_be_visible()


def test_a_failed_job_is_retried_from_the_page_and_its_detail_shows_both_runs(
    page: Page, browser_stack: BrowserStack
) -> None:
    job_id = browser_stack.stack.submit(unique("Broken"), kind="fail")
    job = row(page, job_id)
    expect(job).to_have_attribute("data-status", "failed")
    with page.expect_response(lambda r: r.url.endswith(f"/jobs/{job_id}/retry")) as answer:
        job.get_by_test_id("job-retry").click()
    assert answer.value.status == 202
    # Runs again and fails again: a new run of the same job, on the same row.
    expect(job).to_have_attribute("data-status", "failed")
    job.get_by_test_id("job-details").click()
    detail = page.get_by_test_id("job-detail")
    expect(detail).to_be_visible()
    expect(page.get_by_test_id("job-detail-id")).to_have_text(job_id)
    events = page.get_by_test_id("job-event")
    expect(events.filter(has_text="retried by hand")).to_have_count(1)
    expect(events.filter(has_text="run 2, attempt")).not_to_have_count(0)
    expect(events.last).to_have_attribute("data-event", "failed")
    kinds = [e.get_attribute("data-event") for e in events.all()]
    assert kinds[0] == "submitted" and kinds.count("retried") == 1, kinds
    page.get_by_test_id("job-detail-close").click()
    expect(detail).to_be_hidden()


def test_the_status_filter_shows_only_that_status_and_follows_changes(
    page: Page, browser_stack: BrowserStack
) -> None:
    failed = browser_stack.stack.submit(unique("Bad"), kind="fail")
    done = browser_stack.stack.submit(unique("Good"), kind="noop")
    expect(row(page, failed)).to_have_attribute("data-status", "failed")
    expect(row(page, done)).to_have_attribute("data-status", "completed")
    with page.expect_response(lambda r: "status=failed" in r.url) as answer:
        page.get_by_test_id("status-filter").select_option("failed")
    assert answer.value.status == 200
    expect(row(page, failed)).to_be_visible()
    expect(row(page, done)).to_have_count(0)
    statuses = {r.get_attribute("data-status") for r in page.get_by_test_id("job-row").all()}
    assert statuses == {"failed"}, statuses
    # A retried job leaves the failed view while it runs again, live.
    row(page, failed).get_by_test_id("job-retry").click()
    page.get_by_test_id("status-filter").select_option("")
    expect(row(page, done)).to_be_visible()


def test_a_delayed_job_shows_scheduled_and_is_cancelled_at_once(
    page: Page, browser_stack: BrowserStack
) -> None:
    page.get_by_label("Task name").fill(unique("Later"))
    page.get_by_test_id("delay").fill("3600")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/jobs")
    ) as answer:
        page.get_by_label("Task name").press("Enter")
    assert answer.value.status == 202
    job_id = str(answer.value.json()["job_id"])
    assert answer.value.json()["status"] == "scheduled"
    expect(page.get_by_test_id("form-status")).to_contain_text("scheduled")
    job = row(page, job_id)
    expect(job).to_have_attribute("data-status", "scheduled")
    expect(job.get_by_test_id("job-elapsed")).to_have_text(re.compile(r"^starts in (59|60) min"))
    job.get_by_test_id("job-cancel").click()
    expect(job).to_have_attribute("data-status", "cancelled")


def test_a_bad_delay_is_refused_on_the_page_before_anything_is_sent(page: Page) -> None:
    page.get_by_label("Task name").fill(unique("Never"))
    page.get_by_test_id("delay").fill("-5")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.get_by_label("Task name").press("Enter")
    # The browser's own check (min="0") stops it and says why, next to the field.
    delay = page.get_by_test_id("delay")
    assert delay.evaluate("el => el.validity.rangeUnderflow") is True
    assert "0" in delay.evaluate("el => el.validationMessage")
    # Where the browser does not check (novalidate), the page's own check does.
    page.evaluate("document.querySelector('[data-testid=job-form]').noValidate = true")
    page.get_by_label("Task name").press("Enter")
    expect(page.get_by_test_id("form-error")).to_contain_text("Start after")
    expect(delay).to_have_attribute("aria-invalid", "true")
    assert sent == []


def test_a_signed_in_user_cancels_their_private_job_which_nobody_else_can(
    page: Page, browser_stack: BrowserStack
) -> None:
    with page.expect_response(lambda r: "/auth/v1/signup" in r.url) as signed_up:
        page.get_by_test_id("sign-in").click()
    assert signed_up.value.status == 200, signed_up.value.text()
    expect(page.get_by_test_id("account-text")).to_contain_text("Only you see your jobs")
    page.get_by_label("Task name").fill(unique("Private later"))
    page.get_by_test_id("delay").fill("3600")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/jobs")
    ) as answer:
        page.get_by_label("Task name").press("Enter")
    assert answer.value.status == 202
    job_id = str(answer.value.json()["job_id"])
    job = row(page, job_id)
    expect(job).to_have_attribute("data-status", "scheduled")
    # An anonymous caller of the API can neither cancel nor read it.
    stack = browser_stack.stack
    assert stack.request("submit", "POST", f"/jobs/{job_id}/cancel")[0] == 404
    assert stack.request("submit", "GET", f"/jobs/{job_id}")[0] == 404
    job.get_by_test_id("job-cancel").click()
    expect(job).to_have_attribute("data-status", "cancelled")
    job.get_by_test_id("job-details").click()
    facts = page.get_by_test_id("job-detail-facts")
    expect(facts).to_contain_text("you only (private)")
    events = page.get_by_test_id("job-events").get_by_test_id("job-event")
    expect(events).to_have_count(2)
    expect(events.nth(1)).to_have_attribute("data-event", "cancelled")
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("job-detail")).to_be_hidden()
    expect(job).to_have_count(0)
