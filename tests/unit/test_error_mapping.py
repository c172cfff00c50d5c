"""One mapper turns every error into a response: from handlers, from building a function, and
from the platform adapters reading a request."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import flask
import pytest

from functions.adapters import flask_adapter, lambda_adapter
from functions.adapters.entry import Entry
from functions.config import ConfigError
from functions.core import errors
from functions.core.defaults import MAX_BODY_BYTES
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest, response_for
from tests.inmemory import MemoryJobStore, MemoryKindCatalog

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput("m"), 400),
        (errors.Unauthorized("m"), 401),
        (errors.NotFound("m"), 404),
        (errors.MethodNotAllowed("m"), 405),
        (errors.IdempotencyKeyInFlight("m"), 409),
        (errors.PayloadTooLarge("m"), 413),
        (errors.UnsupportedMediaType("m"), 415),
        (errors.IdempotencyKeyReused("m"), 422),
        (errors.Unavailable("m"), 503),
        (errors.Misconfigured("m"), 503),
    ],
)
def test_each_error_has_its_status_and_its_code(error: errors.JobSystemError, status: int) -> None:
    response = response_for(error)
    assert response.status == status
    assert response.body == {"error": {"code": error.code, "message": "m"}}


def test_a_config_error_is_503_misconfigured_with_the_detail_in_the_log_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = response_for(ConfigError("DATABASE_URL is not set"))
    assert (response.status, response.body["error"]["code"]) == (503, "misconfigured")
    assert "DATABASE_URL" not in json.dumps(response.body)
    assert "DATABASE_URL is not set" in caplog.text


def test_anything_else_is_500_without_detail() -> None:
    response = response_for(KeyError("internal detail"))
    assert response.status == 500
    assert "detail" not in json.dumps(response.body)


def test_a_function_that_cannot_be_built_answers_503() -> None:
    def build() -> Any:
        raise ConfigError("DATABASE_URL is not set: it is needed to reach the jobs database")

    result = Entry(build).lambda_http(json.loads((EVENTS / "http_post_jobs.json").read_text()))
    assert result["statusCode"] == 503
    assert json.loads(result["body"])["error"]["code"] == "misconfigured"


def submit_entry(store: MemoryJobStore) -> Entry:
    return Entry(
        lambda: (
            SubmitApi(
                store, "https://app.example", kinds=MemoryKindCatalog.builtin(store.db)
            ).handle
        )
    )


def test_a_lambda_event_with_a_broken_base64_body_is_400(tmp_path: Path) -> None:
    store = MemoryJobStore()
    event = json.loads((EVENTS / "http_post_jobs.json").read_text())
    event.update(body="not base64!", isBase64Encoded=True)
    result = submit_entry(store).lambda_http(event)
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["error"]["code"] == "invalid_input"
    assert store.jobs == {}


def test_a_lambda_event_reaches_the_api() -> None:
    store = MemoryJobStore()
    event = json.loads((EVENTS / "http_post_jobs.json").read_text())
    event.update(body=base64.b64encode(event["body"].encode()).decode(), isBase64Encoded=True)
    result = submit_entry(store).lambda_http(event)
    assert result["statusCode"] == 202
    assert len(store.jobs) == 1


def flask_request(app: flask.Flask, **kwargs: Any) -> HttpRequest:
    with app.test_request_context(**kwargs):
        return flask_adapter.to_request(flask.request)


def test_flask_reads_the_body_to_one_byte_past_the_limit_only() -> None:
    app = flask.Flask(__name__)
    request = flask_request(
        app, path="/jobs", method="POST", data=b"x" * (MAX_BODY_BYTES * 3), content_type="a/b"
    )
    assert len(request.body) == MAX_BODY_BYTES + 1


def test_an_oversized_body_is_413_with_cors_through_flask() -> None:
    app = flask.Flask(__name__)
    store = MemoryJobStore()
    with app.test_request_context(
        path="/jobs",
        method="POST",
        data=b"[" * (MAX_BODY_BYTES + 10),
        content_type="application/json",
    ):
        body, status, headers = submit_entry(store).flask(flask.request)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_a_repeated_query_parameter_arrives_joined_as_on_api_gateway() -> None:
    app = flask.Flask(__name__)
    request = flask_request(app, path="/jobs", query_string="limit=1&limit=2&x=y")
    assert dict(request.query) == {"limit": "1,2", "x": "y"}
    event = {
        "rawPath": "/jobs",
        "requestContext": {"http": {"method": "GET"}},
        "queryStringParameters": {"limit": "1,2"},
    }
    assert dict(lambda_adapter.to_request(event).query) == {"limit": "1,2"}
