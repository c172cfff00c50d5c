"""Secrets at cold start: SSM SecureString parameters and Secrets Manager secrets (moto), or a
plain environment value locally; exactly one source per setting; values never in messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions import once
from functions.adapters.entry import Entry
from functions.config import (
    DATABASE_URL,
    ConfigError,
    Database,
    WebhookConfig,
    WorkerConfig,
    secret,
)
from functions.http.types import HttpRequest, HttpResponse

REGION = "eu-central-1"
DB_URL = "postgresql://svc:s3cr3t-db-password@db.example.invalid:6543/postgres"
WEBHOOK_SECRET = "whsec_c2VjcmV0LXZhbHVlLWZvci10ZXN0cy0zMi1ieXRlcyE="


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """moto's SSM and Secrets Manager; yields the name of every read call boto3 makes."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.events.register("before-call.ssm.GetParameter", record)
        session.events.register("before-call.secrets-manager.GetSecretValue", record)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        yield calls


def put_parameter(name: str, value: str, kind: str = "SecureString") -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name=name, Value=value, Type=kind)


def create_secret(name: str, value: str) -> str:
    created = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=name, SecretString=value
    )
    return str(created["ARN"])


def test_a_securestring_parameter_is_read_with_decryption(aws: list[str]) -> None:
    put_parameter("/supajobs/test/database-url", DB_URL)
    env = {"DATABASE_URL_SSM_PARAMETER": "/supajobs/test/database-url"}
    assert Database.from_env(env).url == DB_URL
    assert aws == ["GetParameter"]


def test_a_secrets_manager_secret_is_read_as_its_raw_string(aws: list[str]) -> None:
    # A Standard Webhooks secret, possibly several separated by spaces: passed on unparsed.
    value = f"{WEBHOOK_SECRET} whsec_b2xkZXItcm90YXRpb24tc2VjcmV0LTMyLWJ5dGVzISE="
    arn = create_secret("supajobs/test/webhook-secret", value)
    env = {"WEBHOOK_SECRET_SECRET_ARN": arn, "PROCESS_JOB_FUNCTION_NAME": "pj"}
    assert WebhookConfig.from_env(env).secret == value
    assert aws == ["GetSecretValue"]


def test_a_plain_environment_value_needs_no_aws(aws: list[str]) -> None:
    assert Database.from_env({"DATABASE_URL": DB_URL}).url == DB_URL
    assert aws == []


def test_a_plain_string_parameter_is_refused_without_echoing_it(aws: list[str]) -> None:
    put_parameter("/supajobs/test/database-url", DB_URL, kind="String")
    with pytest.raises(ConfigError, match="must be a SecureString") as caught:
        Database.from_env({"DATABASE_URL_SSM_PARAMETER": "/supajobs/test/database-url"})
    assert DB_URL not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL_SSM_PARAMETER": "/nope"}, r"SSM parameter /nope could not be read \(Param"),
        (
            {"DATABASE_URL_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:1:secret:no"},
            r"could not be read \(ResourceNotFound",
        ),
        ({}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "  "}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": DB_URL, "DATABASE_URL_SSM_PARAMETER": "/x"}, "set one"),
    ],
)
def test_a_missing_unreadable_or_ambiguous_secret_is_a_config_error(
    aws: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        secret(env, DATABASE_URL, "to reach the jobs database")


def test_the_worker_config_resolves_the_database_url_from_ssm(aws: list[str]) -> None:
    put_parameter("/supajobs/test/database-url", DB_URL)
    cfg = WorkerConfig.from_env({"DATABASE_URL_SSM_PARAMETER": "/supajobs/test/database-url"})
    assert cfg.database_url == DB_URL


class RecordList(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_function_fetches_its_secret_once_per_process_and_retries_a_failed_fetch(
    aws: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL_SSM_PARAMETER", "/supajobs/test/database-url")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    seen: list[str] = []

    def build() -> Any:
        seen.append(Database.from_env().url)
        return lambda request: HttpResponse(200, {"ok": True})

    entry = Entry(build)
    request = HttpRequest(method="GET", path="/", headers={}, query={}, body=b"")
    # On the function's own logger: the entry's first request installs the process's handler
    # on the root logger in place of any there (pytest's capture among them).
    logged = RecordList()
    logging.getLogger("functions.http").addHandler(logged)
    try:
        # Not there yet: a 503 that names nothing, and nothing remembered.
        first = entry.serve(lambda: request)
        assert first.status == 503
        assert "/supajobs" not in first.encoded_body().decode()
        assert any("ParameterNotFound" in m for m in logged.messages)  # the operator sees why
        put_parameter("/supajobs/test/database-url", DB_URL)
        assert [entry.serve(lambda: request).status for _ in range(3)] == [200, 200, 200]
        assert seen == [DB_URL]
        assert aws == ["GetParameter", "GetParameter"]
        once.reset_all()
        assert entry.serve(lambda: request).status == 200
        assert aws == ["GetParameter"] * 3
    finally:
        logging.getLogger("functions.http").removeHandler(logged)
        once.reset_all()
