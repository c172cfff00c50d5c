"""Flow control on the page, in Debian's chromium against the whole local stack: the form's
concurrency key and dedup key reach the API, and a job's details say why it waits."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, BrowserStack, running_browser_stack
from tests.conftest import fresh_database, get_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser_stack() -> Iterator[BrowserStack]:
    with (
        contextmanager(fresh_database)(get_server("embedded")) as database_url,
        running_browser_stack(database_url, {"TASK_MAX_SECONDS": "30"}) as running,
    ):
        yield running


@pytest.fixture
def page(browser_stack: BrowserStack) -> Iterator[Page]:
    expect.set_options(timeout=20_000)
    with sync_playwright() as driver:
        browser: Browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        opened = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.goto(browser_stack.page_url)
        expect(opened.get_by_test_id("connection")).to_have_attribute("data-state", "live")
        yield opened
        browser.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def submit(page: Page, name: str, payload: str, **flow: str) -> tuple[int, str]:
    page.get_by_label("Task name").fill(name)
    page.get_by_test_id("kind").select_option("simulate")
    page.get_by_test_id("payload").fill(payload)
    page.get_by_test_id("flow-fields").locator("summary").click()
    for field, value in flow.items():
        page.get_by_test_id(f"flow-{field}").fill(value)
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/jobs")
    ) as answer:
        page.get_by_test_id("submit-job").click()
    page.get_by_test_id("flow-fields").locator("summary").click()  # closed again
    return answer.value.status, str(answer.value.json()["job_id"])


def test_the_details_say_why_a_job_waits_and_a_dedup_key_reuses_the_job(page: Page) -> None:
    key = f"page-{uuid.uuid4().hex[:6]}"
    limit = {"concurrency_key": key, "concurrency_limit": "1"}
    status, first = submit(page, "Holds the key", '{"seconds": 20}', **limit)
    assert status == 202
    status, second = submit(page, "Waits for it", '{"seconds": 1}', dedup_key=key, **limit)
    assert status == 202
    status, again = submit(page, "Waits for it", '{"seconds": 1}', dedup_key=key, **limit)
    assert (status, again) == (200, second)
    page.locator(f'tr[data-job-id="{second}"]').get_by_test_id("job-details").click()
    facts = page.get_by_test_id("job-detail-facts")
    expect(facts).to_contain_text(f"waiting: 1 of 1 running for {key}")
    expect(facts).to_contain_text(f"Dedup key{key}")
    assert first != second
