"""Fuzzing the submit API from its OpenAPI description against the real running function:
no request produces a 5xx or a stack trace, and a rejected request stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from devstack.postgres import free_port
from devstack.services import ManagedProcess, function_process
from tests.db_state import jobs_and_messages

SPEC = Path(__file__).resolve().parent.parent / "functions" / "openapi.yaml"
schema = schemathesis.openapi.from_path(SPEC)
# Valid and invalid requests alike: the invalid ones are where a 5xx would hide.
schema.config.generation.update(modes=list(schemathesis.GenerationMode))


@pytest.fixture(scope="module")
def submit_server(module_db_url: str) -> Iterator[tuple[ManagedProcess, str]]:
    process = function_process("submit", free_port(), {"DATABASE_URL": module_db_url}).start()
    yield process, module_db_url
    process.stop()


statuses_seen: set[int] = set()


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_5xx_or_stores_half_a_job(
    case: schemathesis.Case, submit_server: tuple[ManagedProcess, str]
) -> None:
    process, url = submit_server
    before = jobs_and_messages(url)
    response = case.call(base_url=f"http://127.0.0.1:{process.port}", timeout=30)
    statuses_seen.add(response.status_code)
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    body = response.json() if response.text else None
    after = jobs_and_messages(url)
    if response.status_code == 202:
        assert after == (before[0] + 1, before[1] + 1) or case.headers.get("Idempotency-Key")
    else:
        assert after == before
    if response.status_code >= 400:
        assert set(body["error"]) == {"code", "message"}


def test_the_fuzzer_reached_both_acceptance_and_rejection() -> None:
    """Runs after the fuzz cases in this module: they must have exercised both paths."""
    assert {200, 202} & statuses_seen
    assert {400, 404, 413, 415} & statuses_seen
