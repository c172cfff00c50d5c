"""The page in a real browser (Debian's chromium, driven by Playwright) against the whole local
stack: functions, relay, Realtime gateway, and the built page (frontend/dist/ as `make page`
writes it) on a plain static file server.

The stack and the browser are started once for the module; each test opens the page afresh.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import psycopg
import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from devstack.config import page_config_js
from devstack.postgres.embedded import free_port
from tests.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    BrowserStack,
    page_server,
    running_browser_stack,
)
from tests.conftest import ROOT, fresh_database, get_server
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.browser,
    # Skipped only on a developer's machine without chromium; in CI (.ci/run installs it) a
    # missing browser must fail, not pass silently.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

ARTIFACTS = ROOT / "test-artifacts"
# Jobs may ask for up to this many seconds (tests/local_stack.py's FAST_TASKS caps them lower).
TASK_ENV = {"TASK_MAX_SECONDS": "5"}
LIVE_TIMEOUT_MS = 20_000
# Without Realtime the page reads the list every REFRESH_MS; a GET /jobs and a render on a busy
# 2-core machine fit in this margin.
REFRESH_MARGIN_MS = 2_000
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}

# Records every status each row shows, in order, from the moment it is installed.
STATUS_RECORDER = """() => {
  window.__seen = {};
  const body = document.querySelector('[data-testid=jobs-body]');
  const note = () => {
    for (const row of body.querySelectorAll('tr[data-job-id]')) {
      const list = (window.__seen[row.dataset.jobId] ||= []);
      if (list[list.length - 1] !== row.dataset.status) list.push(row.dataset.status);
    }
  };
  new MutationObserver(note).observe(body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
  });
  note();
}"""

# Records (status text, wall-clock ms) each time one row's status badge changes its text.
BADGE_CLOCK = """(jobId) => {
  window.__changes = [];
  const badge = document.querySelector(`tr[data-job-id="${jobId}"] [data-testid=job-status]`);
  let last = badge.textContent;
  new MutationObserver(() => {
    if (badge.textContent !== last) {
      last = badge.textContent;
      window.__changes.push({status: last, at: Date.now()});
    }
  }).observe(badge, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def browser_stack() -> Iterator[BrowserStack]:
    with (
        contextmanager(fresh_database)(get_server("embedded")) as database_url,
        running_browser_stack(database_url, TASK_ENV) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, browser_stack: BrowserStack) -> Iterator[Page]:
    """The page, open, live, with a marker that a reload would wipe and a status recorder."""
    expect.set_options(timeout=LIVE_TIMEOUT_MS)
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(browser_stack.page_url)
    expect(connection(opened)).to_have_attribute("data-state", "live")
    opened.evaluate("window.__marker = 'same page'")
    opened.evaluate(STATUS_RECORDER)
    yield opened
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def connection(page: Page) -> Any:
    return page.get_by_test_id("connection")


def row(page: Page, job_id: str) -> Any:
    return page.locator(f'tr[data-job-id="{job_id}"]')


def submit_on_page(page: Page, task_name: str, kind: str = "", payload: str = "") -> str:
    """Fill the form, submit it with the keyboard, and return the new job's id."""
    page.get_by_label("Task name").fill(task_name)
    page.get_by_label("Kind").select_option(kind)
    page.get_by_label("Payload").fill(payload)
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/jobs")
    ) as answer:
        page.get_by_label("Task name").press("Enter")
    assert answer.value.status == 202, answer.value.text()
    return str(answer.value.json()["job_id"])


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == "same page", "the page was reloaded"


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------------------------


def test_a_job_submitted_on_the_page_turns_completed_without_a_reload(page: Page) -> None:
    name = unique("Quarterly report")
    job_id = submit_on_page(page, name, kind="simulate", payload='{"seconds": 1}')

    job = row(page, job_id)
    expect(job).to_be_visible()
    expect(job.get_by_test_id("job-name")).to_have_text(name)
    expect(page.get_by_test_id("form-status")).to_contain_text(job_id[:8])
    expect(job).to_have_attribute("data-status", "completed")
    expect(job.get_by_test_id("job-status")).to_have_text("completed")
    expect(job.get_by_test_id("job-result")).to_have_text(
        re.compile(rf"Task '{re.escape(name)}' completed in 1\.\d\d seconds")
    )
    expect(job.get_by_test_id("job-attempts")).to_have_text("1")
    expect(job.get_by_test_id("job-finished")).not_to_have_text("—")

    seen = page.evaluate("(id) => window.__seen[id]", job_id)
    assert seen[-1] == "completed"
    assert "running" in seen, f"the page never showed the job running: {seen}"
    assert seen.index("running") < seen.index("completed")
    assert_not_reloaded(page)


def test_copies_go_as_one_batch_and_each_turns_completed(page: Page) -> None:
    name = unique("Batch")
    page.get_by_test_id("task-name").fill(name)
    page.get_by_test_id("kind").select_option("noop")
    page.get_by_test_id("copies").fill("3")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_test_id("submit-job").click()
    assert answer.value.request.post_data_json == [{"task_name": name, "kind": "noop"}] * 3
    job_ids = answer.value.json()["job_ids"]
    assert len(set(job_ids)) == 3
    expect(page.get_by_test_id("form-status")).to_contain_text("3 copies")
    for job_id in job_ids:
        expect(row(page, job_id)).to_have_attribute("data-status", "completed")
    assert_not_reloaded(page)


def test_copies_with_a_delayed_start_are_refused_on_the_page(page: Page) -> None:
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_test_id("task-name").fill(unique("Later"))
    page.get_by_test_id("delay").fill("60")
    page.get_by_test_id("copies").fill("2")
    page.get_by_test_id("submit-job").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("one copy only")
    expect(page.get_by_test_id("copies")).to_be_focused()
    assert posts == []


def test_a_running_job_shows_a_ticking_elapsed_time(
    page: Page, browser_stack: BrowserStack
) -> None:
    job_id = browser_stack.stack.submit(unique("Slow one"), payload={"seconds": 3})
    job = row(page, job_id)
    expect(job).to_have_attribute("data-status", "running")
    elapsed = job.get_by_test_id("job-elapsed")
    expect(elapsed).to_have_text(re.compile(r"^for \d+ s$"))
    first = elapsed.inner_text()
    expect(elapsed).not_to_have_text(first)  # it ticks with no event from the server
    expect(job).to_have_attribute("data-status", "completed")
    expect(elapsed).to_have_text(re.compile(r"^took 3\.\d s$"))


def test_invalid_input_shows_the_servers_message_in_the_forms_words(page: Page) -> None:
    alert = page.get_by_role("alert").filter(has_text=re.compile("."))
    name_field = page.get_by_label("Task name")

    # A blank name, with the browser's own `required` check taken away: the server refuses it,
    # and the page says so with the field's label, not its name in the API.
    name_field.evaluate("el => el.removeAttribute('required')")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        submit_button(page).click()
    assert answer.value.status == 400
    server_message = answer.value.json()["error"]["message"]
    assert server_message == "task_name is required and may not be blank"
    expect(alert).to_have_text("The task name is required and may not be blank")
    expect(name_field).to_have_attribute("aria-invalid", "true")
    expect(name_field).to_be_focused()

    # Too long: nothing cuts it (no maxlength); the count shows the limit as it is typed, and
    # the page refuses it before sending.
    assert name_field.get_attribute("maxlength") is None
    name_field.fill("x" * 201)
    assert len(name_field.input_value()) == 201
    expect(page.get_by_test_id("task-name-count")).to_have_text(
        "201 characters: 1 over the limit of 200"
    )
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    submit_button(page).click()
    expect(alert).to_have_text(
        "The task name is 201 characters long; the limit is 200. Shorten it by 1."
    )
    assert posts == []
    name_field.fill("x" * 200)
    expect(page.get_by_test_id("task-name-count")).to_have_text("200 / 200 characters")

    # A payload that is JSON but not an object: the server's words, with the field's label.
    name_field.fill("valid name")
    page.get_by_label("Payload").fill("[1, 2]")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        submit_button(page).click()
    assert answer.value.status == 400
    assert answer.value.json()["error"]["message"].startswith("payload must be a JSON object")
    expect(alert).to_contain_text("The payload must be a JSON object")
    posts.clear()

    # Not JSON at all: caught before anything is sent.
    page.get_by_label("Payload").fill('{"seconds": 3')
    submit_button(page).click()
    expect(alert).to_contain_text("The payload is not valid JSON")
    expect(page.get_by_label("Payload")).to_have_attribute("aria-invalid", "true")
    assert posts == []

    # Fixing it clears the error and submits.
    page.get_by_label("Payload").fill('{"seconds": 0.1}')
    submit_button(page).click()
    expect(page.get_by_test_id("form-status")).to_contain_text("Submitted")
    expect(page.get_by_test_id("form-error")).to_have_text("")
    expect(page.get_by_label("Payload")).not_to_have_attribute("aria-invalid", "true")
    assert_not_reloaded(page)


def submit_button(page: Page) -> Any:
    return page.get_by_role("button", name="Submit job")


def test_jobs_from_another_client_appear_live_and_a_failure_shows_its_error(
    page: Page, browser_stack: BrowserStack
) -> None:
    other = browser_stack.stack
    done_id = other.submit(unique("From the API"), kind="noop")
    failing_id = other.submit(unique("Doomed"), kind="fail", payload={"message": "disk on fire"})

    expect(row(page, done_id)).to_have_attribute("data-status", "completed")
    expect(row(page, done_id).get_by_test_id("job-result")).to_have_text("ok")

    failed = row(page, failing_id)
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.get_by_test_id("job-status")).to_have_text("failed")
    expect(failed.get_by_test_id("job-result")).to_have_text("RuntimeError: disk on fire")
    expect(failed.get_by_test_id("job-attempts")).to_have_text("3")
    assert page.evaluate("(id) => window.__seen[id]", failing_id)[-1] == "failed"
    assert_not_reloaded(page)


def test_a_stale_version_of_a_job_never_replaces_a_newer_one(
    page: Page, browser_stack: BrowserStack
) -> None:
    job_id = browser_stack.stack.submit(unique("Merged"), kind="noop")
    job = row(page, job_id)
    expect(job).to_have_attribute("data-status", "completed")
    shown: dict[str, Any] = browser_stack.stack.request("submit", "GET", f"/jobs/{job_id}")[1]

    # An older version (as a late event or a slow GET /jobs answer could bring) changes nothing.
    stale = {**shown, "status": "running", "updated_at": "2000-01-01T00:00:00.000001+00:00"}
    changed = page.evaluate(
        "async (job) => (await import('./modules/jobs.js')).apply([job]).size", stale
    )
    assert changed == 0
    expect(job).to_have_attribute("data-status", "completed")

    # The same instant in another time zone, one microsecond later, does win.
    newer = {**shown, "status": "failed", "error": "later", "updated_at": plus_one_us(shown)}
    changed = page.evaluate(
        "async (job) => (await import('./modules/jobs.js')).apply([job]).size", newer
    )
    assert changed == 1
    expect(job).to_have_attribute("data-status", "failed")
    expect(job.get_by_test_id("job-result")).to_have_text("later")


def plus_one_us(job: dict[str, Any]) -> str:
    moment = datetime.fromisoformat(job["updated_at"]) + timedelta(microseconds=1)
    return moment.astimezone(timezone(timedelta(hours=-5))).isoformat()


def test_html_in_a_task_name_is_shown_as_text_and_never_run(
    page: Page, browser_stack: BrowserStack
) -> None:
    image = '<img src=x onerror="window.__xss=1">'
    script = "<script>window.__xss=2</script><b>bold</b>"
    typed_id = submit_on_page(page, image, kind="noop")
    quoteless = "<img src=x onerror=window.__xss=3>"  # JSON in the result escapes quotes
    sent_id = browser_stack.stack.submit(script, kind="echo", payload={"html": quoteless})

    for job_id, name in ((typed_id, image), (sent_id, script)):
        job = row(page, job_id)
        expect(job).to_have_attribute("data-status", "completed")
        expect(job.get_by_test_id("job-name")).to_have_text(name)
    expect(row(page, sent_id).get_by_test_id("job-result")).to_contain_text(quoteless)
    expect(page.get_by_test_id("form-status")).to_contain_text(image)

    jobs = page.get_by_test_id("jobs-table")
    assert jobs.locator("img, script:not([src]), b").count() == 0
    assert page.locator("body img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_screenshots_on_a_desktop_and_a_phone(page: Page, browser_stack: BrowserStack) -> None:
    submissions = [
        ("Quarterly report", "simulate", {"seconds": 1}),
        ("Resize product images", "noop", {}),
        ("Nightly backup", "fail", {"message": "backup volume is full"}),
        ("Echo settings", "echo", {"region": "eu-west-1", "dry_run": True}),
        ("Send weekly digest", "simulate", {"seconds": 0.5}),
    ]
    ids = [
        browser_stack.stack.submit(name, kind=kind, payload=payload)
        for name, kind, payload in submissions
    ]
    for job_id in ids:
        expect(row(page, job_id)).to_have_attribute("data-status", re.compile("completed|failed"))

    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.activeElement.blur()")
    page.mouse.move(0, 0)
    page.screenshot(path=ARTIFACTS / "jobs-page.png", full_page=True)

    page.set_viewport_size(PHONE)
    # At phone width the rows are cards: nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(page.locator("thead")).not_to_be_in_viewport()
    expect(row(page, ids[0]).get_by_test_id("job-status")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "jobs-page-mobile.png", full_page=True)
    assert (ARTIFACTS / "jobs-page.png").stat().st_size > 10_000
    assert (ARTIFACTS / "jobs-page-mobile.png").stat().st_size > 10_000


def test_the_form_works_from_the_keyboard(page: Page) -> None:
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to the jobs")).to_be_focused()
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    # the flow control fields are folded away: their summary takes the focus, not each field
    assert order == [
        "task-name",
        "kind",
        "payload",
        "delay",
        "copies",
        "flow-fields-summary",
        "submit-job",
    ]
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows no focus ring"

    page.get_by_label("Task name").focus()
    page.keyboard.type(unique("Typed"))
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # kind: simulate
    page.keyboard.press("Tab")
    page.keyboard.type('{"seconds": 0.2}')
    page.keyboard.press("Tab")  # start after: left empty
    page.keyboard.press("Tab")  # copies: left at 1
    page.keyboard.press("Tab")  # flow control: left folded
    page.keyboard.press("Tab")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.keyboard.press("Enter")
    job_id = answer.value.json()["job_id"]
    expect(row(page, job_id)).to_have_attribute("data-status", "completed")
    expect(row(page, job_id).get_by_test_id("job-kind")).to_have_text("simulate")


def live_off(page: Page) -> Any:
    return page.get_by_test_id("live-off")


def refresh_ms(page: Page) -> int:
    return int(page.evaluate("async () => (await import('./modules/realtime.js')).REFRESH_MS"))


def assert_completion_shown_within_the_refresh(
    page: Page, browser_stack: BrowserStack, job_id: str
) -> None:
    """Once the database has the job completed, the page shows it within one refresh."""
    period = refresh_ms(page)
    wait_for(
        lambda: browser_stack.stack.job(job_id)["status"] == "completed",
        interval=0.05,
        what="the job to complete in the database",
    )
    expect(row(page, job_id)).to_have_attribute(
        "data-status", "completed", timeout=period + REFRESH_MARGIN_MS
    )
    expect(live_off(page)).to_be_visible()
    expect(live_off(page)).to_contain_text(f"refreshes every {period // 1000} s")


def test_after_a_lost_connection_the_page_refreshes_and_says_so_then_goes_live_again(
    page: Page, browser_stack: BrowserStack
) -> None:
    expect(live_off(page)).to_be_hidden()
    browser_stack.stop_gateway()
    try:
        expect(connection(page)).to_have_attribute("data-state", "offline")
        expect(connection(page)).to_have_text("Offline — reconnecting")
        expect(live_off(page)).to_contain_text("Live updates are off")
        missed = browser_stack.stack.submit(unique("While offline"), kind="noop")
        assert_completion_shown_within_the_refresh(page, browser_stack, missed)
    finally:
        browser_stack.start_gateway()
    expect(connection(page)).to_have_attribute("data-state", "live")
    expect(connection(page)).to_have_text("Live")
    expect(live_off(page)).to_be_hidden()
    # Live again: a change arrives through Realtime, not a refresh.
    again = browser_stack.stack.submit(unique("Live again"), kind="noop")
    expect(row(page, again)).to_have_attribute("data-status", "completed")
    assert_not_reloaded(page)


def open_page(browser: Browser, url: str, block: str | None = None) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=DESKTOP)
    if block is not None:
        context.route(block, lambda route: route.abort())
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(url)
    return opened, errors


def test_without_supabase_js_the_page_refreshes_the_list_and_says_so(
    browser: Browser, browser_stack: BrowserStack
) -> None:
    expect.set_options(timeout=LIVE_TIMEOUT_MS)
    fallback, errors = open_page(browser, browser_stack.page_url, block="**/vendor/supabase.js")
    try:
        expect(live_off(fallback)).to_contain_text(
            "Live updates are off (supabase.js could not be loaded)"
        )
        expect(connection(fallback)).to_have_attribute("data-state", "offline")
        job_id = submit_on_page(fallback, unique("No supabase.js"), kind="noop")
        assert_completion_shown_within_the_refresh(fallback, browser_stack, job_id)
        other = browser_stack.stack.submit(unique("From elsewhere"), kind="noop")
        assert_completion_shown_within_the_refresh(fallback, browser_stack, other)
    finally:
        fallback.context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def test_with_realtime_unreachable_the_page_refreshes_the_list_and_says_so(
    browser: Browser, browser_stack: BrowserStack
) -> None:
    expect.set_options(timeout=LIVE_TIMEOUT_MS)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with page_server(browser_stack.config_js(supabase_url=dead)) as url:
        fallback, errors = open_page(browser, url)
        try:
            expect(live_off(fallback)).to_contain_text("Live updates are off")
            expect(connection(fallback)).not_to_have_attribute("data-state", "live")
            job_id = browser_stack.stack.submit(unique("No Realtime"), kind="noop")
            assert_completion_shown_within_the_refresh(fallback, browser_stack, job_id)
        finally:
            fallback.context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def test_realtime_latency_from_commit_to_screen(page: Page, browser_stack: BrowserStack) -> None:
    """From an UPDATE's commit to the page showing it, through the gateway and supabase-js."""
    with psycopg.connect(browser_stack.database_url, autocommit=True) as conn:
        inserted = conn.execute(
            "insert into public.job_results (task_name, status) values (%s, 'pending')"
            " returning job_id::text",
            (unique("Latency probe"),),
        ).fetchone()
        assert inserted is not None
        row_id = str(inserted[0])
        probe = row(page, row_id)
        expect(probe).to_have_attribute("data-status", "pending")
        page.evaluate(BADGE_CLOCK, row_id)

        samples_ms: list[float] = []
        for i, status in enumerate(["running", "completed"] * 6):
            conn.execute(
                "update public.job_results set status = %s where job_id = %s", (status, row_id)
            )
            committed = time.time()  # autocommit: execute returns once the commit is done
            page.wait_for_function("(n) => window.__changes.length >= n", arg=i + 1)
            change = page.evaluate("(i) => window.__changes[i]", i)
            assert change["status"] == status
            samples_ms.append(change["at"] - committed * 1000)

    samples_ms = samples_ms[2:]  # the first ones warm up the path
    p50 = statistics.median(samples_ms)
    report = (
        f"realtime latency, commit -> browser DOM (MutationObserver), n={len(samples_ms)}: "
        f"p50 {p50:.1f} ms, min {min(samples_ms):.1f} ms, max {max(samples_ms):.1f} ms\n"
        f"samples_ms {json.dumps([round(s, 1) for s in samples_ms])}\n"
    )
    print("\n" + report, end="")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "realtime-latency.txt").write_text(report)


def test_the_page_refuses_a_secret_key_in_its_configuration(browser: Browser) -> None:
    """A secret key bypasses RLS: published in config.js it would be anyone's."""
    config_js = page_config_js("http://127.0.0.1:9", "http://127.0.0.1:9", "sb_secret_abc123")
    with page_server(config_js) as url:
        context = browser.new_context(viewport=DESKTOP)
        bare = context.new_page()
        bare.goto(url)
        expect(bare.get_by_test_id("config-problem")).to_contain_text("holds a secret key")
        expect(connection(bare)).to_have_attribute("data-state", "offline")
        context.close()


def test_the_page_names_what_is_missing_without_a_configuration(browser: Browser) -> None:
    with page_server(None) as url:  # the build's config.js template, not filled in
        context = browser.new_context(viewport=DESKTOP)
        bare = context.new_page()
        bare.goto(url)
        expect(bare.get_by_test_id("config-problem")).to_contain_text(
            "no configuration for functionsUrl, supabaseUrl, supabaseKey"
        )
        expect(bare.get_by_test_id("config-problem")).to_contain_text("config.js")
        expect(connection(bare)).to_have_attribute("data-state", "offline")
        context.close()


# --- typed tasks and own jobs ----------------------------------------------------------------


def test_the_kinds_and_their_hints_come_from_the_api_and_a_mismatch_is_explained(
    page: Page, browser_stack: BrowserStack
) -> None:
    kind = page.get_by_label("Kind")
    expect(kind).to_have_attribute("data-source", "api")  # replaced from GET /kinds
    # The built-in kinds, and whatever the stack's worker published at its cold start (the
    # test task modules' kinds too).
    status, body = browser_stack.stack.request("submit", "GET", "/kinds")
    assert status == 200
    published = sorted(k["kind"] for k in body["kinds"])
    assert {"echo", "fail", "noop", "simulate"} <= set(published)
    texts = kind.locator("option").all_inner_texts()
    shown = [t.split(" — ")[0] for t in texts[1:]]
    assert shown == ["simulate", *(k for k in published if k != "simulate")]
    assert texts[0] == "Default (simulate)"
    hint = page.get_by_test_id("payload-hint")
    expect(hint).to_contain_text('"seconds" (number, at least 0)')
    kind.select_option("fail")
    expect(hint).to_contain_text('"message" (string, up to 1000 characters)')

    kind.select_option("simulate")
    page.get_by_label("Task name").fill(unique("typed"))
    page.get_by_label("Payload").fill('{"seconds": "abc"}')
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        submit_button(page).click()
    assert answer.value.status == 400
    assert "payload.seconds must be a number" in answer.value.json()["error"]["message"]
    alert = page.get_by_test_id("form-error")
    expect(alert).to_have_text("Seconds (in the payload) must be a number, not a string")
    expect(page.get_by_label("Payload")).to_have_attribute("aria-invalid", "true")


def sign_in_on(page: Page, alg: str = "ES256") -> str:
    """Signs the page in; the user's id. Its access token is signed with ``alg``."""
    with page.expect_response(lambda r: "/auth/v1/signup" in r.url) as answer:
        page.get_by_test_id("sign-in").click()
    assert answer.value.status == 200, answer.value.text()
    expect(page.get_by_test_id("account-text")).to_contain_text("Only you see your jobs")
    assert jwt.get_unverified_header(answer.value.json()["access_token"])["alg"] == alg
    return str(answer.value.json()["user"]["id"])


def test_a_legacy_hs256_project_with_a_publishable_key_serves_own_jobs(
    browser: Browser,
) -> None:
    """The other kind of project: Auth signing with the legacy HS256 secret, and the page
    configured with an opaque sb_publishable_ key (supabase-js with it, Realtime with it)."""
    with (
        contextmanager(fresh_database)(get_server("embedded")) as database_url,
        running_browser_stack(
            database_url, TASK_ENV, signing_algorithm="HS256", publishable_key=True
        ) as legacy,
    ):
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            page.goto(legacy.page_url)
            expect(connection(page)).to_have_attribute("data-state", "live")
            public = legacy.stack.submit(unique("public demo"), kind="noop")
            expect(row(page, public)).to_have_attribute("data-status", "completed")
            user_id = sign_in_on(page, alg="HS256")
            mine = submit_on_page(page, unique("mine"), "noop")
            expect(row(page, mine)).to_have_attribute("data-status", "completed")
            assert row(page, public).count() == 0
            with psycopg.connect(legacy.database_url) as conn:
                owner = conn.execute(
                    "select owner_id::text from job_results where job_id = %s", (mine,)
                ).fetchone()
            assert owner == (user_id,)
        finally:
            context.close()


def test_two_signed_in_users_each_see_only_their_own_jobs_live(
    browser: Browser, browser_stack: BrowserStack, page: Page
) -> None:
    other = browser.new_context(viewport=DESKTOP)
    bob = other.new_page()
    try:
        bob.goto(browser_stack.page_url)
        expect(connection(bob)).to_have_attribute("data-state", "live")
        alice_id, bob_id = sign_in_on(page), sign_in_on(bob)
        assert alice_id != bob_id
        public = browser_stack.stack.submit(unique("public demo"), kind="noop")

        alices = submit_on_page(page, unique("alice's"), "noop")
        bobs = submit_on_page(bob, unique("bob's"), "noop")
        expect(row(page, alices)).to_have_attribute("data-status", "completed")
        expect(row(bob, bobs)).to_have_attribute("data-status", "completed")
        # Both finished: had the other's changes been sent, they would be on screen by now.
        # A job submitted after them in each page's own name is the marker that both pages
        # received everything committed before it.
        last = submit_on_page(page, unique("alice's last"), "noop")
        bobs_last = submit_on_page(bob, unique("bob's last"), "noop")
        expect(row(page, last)).to_have_attribute("data-status", "completed")
        expect(row(bob, bobs_last)).to_have_attribute("data-status", "completed")
        assert row(bob, alices).count() == 0 and row(bob, last).count() == 0
        assert row(page, bobs_last).count() == 0
        assert row(page, bobs).count() == 0
        assert row(page, public).count() == 0 and row(bob, public).count() == 0

        with psycopg.connect(browser_stack.database_url) as conn:
            owners: dict[str, str | None] = dict(
                conn.execute(
                    "select job_id::text, owner_id::text from job_results where job_id = any(%s)",
                    ([alices, bobs, public],),
                ).fetchall()
            )
        assert owners == {alices: alice_id, bobs: bob_id, public: None}

        # Rows that reach a page only through Realtime (no API read follows an insert made
        # elsewhere): each user's page gets its own, never the other's or the public one.
        with psycopg.connect(browser_stack.database_url, autocommit=True) as conn:
            inserted = {}
            for who, owner in (("alice", alice_id), ("bob", bob_id), ("public", None)):
                row_id = conn.execute(
                    "insert into job_results (task_name, owner_id) values (%s, %s)"
                    " returning job_id::text",
                    (unique(f"{who} live"), owner),
                ).fetchone()
                assert row_id is not None
                inserted[who] = row_id[0]
            # Committed last, for both: once each page shows its own, the others were sent.
            ends = {}
            for who, owner in (("alice", alice_id), ("bob", bob_id)):
                end = conn.execute(
                    "insert into job_results (task_name, owner_id) values ('end', %s)"
                    " returning job_id::text",
                    (owner,),
                ).fetchone()
                assert end is not None
                ends[who] = end[0]
        expect(row(page, inserted["alice"])).to_be_visible()
        expect(row(bob, inserted["bob"])).to_be_visible()
        expect(row(page, ends["alice"])).to_be_visible()
        expect(row(bob, ends["bob"])).to_be_visible()
        for shown_on, hidden in ((page, ("bob", "public")), (bob, ("alice", "public"))):
            for who in hidden:
                assert row(shown_on, inserted[who]).count() == 0

        # Signed out, the page is the public demo again: the public job, not Alice's.
        page.get_by_test_id("sign-out").click()
        expect(page.get_by_test_id("account-text")).to_contain_text("Public demo")
        expect(row(page, public)).to_be_visible()
        assert row(page, alices).count() == 0
    finally:
        other.close()


def test_the_open_jobs_history_gets_each_event_live_once_across_a_gateway_restart(
    page: Page, browser_stack: BrowserStack
) -> None:
    """Broadcast (issue 21): the detail's events come from the database's messages, not from
    reading the job again (those reads are refused here), and what happened while Realtime was
    down is replayed on the rejoin, each event once."""
    with psycopg.connect(browser_stack.database_url, autocommit=True) as conn:
        inserted = conn.execute(
            "insert into public.job_results (task_name, kind, status) values (%s, 'noop',"
            " 'pending') returning job_id::text",
            (unique("Live history"),),
        ).fetchone()
        assert inserted is not None
        job_id = str(inserted[0])
        job = row(page, job_id)
        expect(job).to_have_attribute("data-status", "pending")
        job.get_by_test_id("job-details").click()
        events = page.get_by_test_id("job-events").get_by_test_id("job-event")
        expect(events).to_have_count(1)
        page.route(f"**/jobs/{job_id}", lambda route: route.abort())  # only Broadcast now
        started = "update public.job_results set status = 'running', attempts = 1 where job_id = %s"
        conn.execute(started, (job_id,))
        expect(events).to_have_count(2)
        expect(events.nth(1)).to_have_attribute("data-event", "started")
        browser_stack.stop_gateway()
        try:
            expect(connection(page)).to_have_attribute("data-state", "offline")
            conn.execute(
                "update public.job_results set status = 'completed', result = 'ok'"
                " where job_id = %s",
                (job_id,),
            )
        finally:
            browser_stack.start_gateway()
        expect(connection(page)).to_have_attribute("data-state", "live")
        expect(events).to_have_count(3)
        expect(events.nth(2)).to_have_attribute("data-event", "completed")
        shown = events.evaluate_all("items => items.map((li) => li.dataset.eventId)")
        recorded = conn.execute(
            "select event_id::text from public.job_events where job_id = %s order by event_id",
            (job_id,),
        ).fetchall()
    assert shown == [r[0] for r in recorded]
