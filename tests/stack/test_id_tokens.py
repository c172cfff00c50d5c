"""process_job's caller checks on Google Cloud: google-auth verifying ID tokens signed by a key
the test makes, with its certificates served over HTTP on loopback as Google serves its own."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.config import ConfigError
from functions.core.errors import Unauthorized, Unavailable
from functions.google_config import GoogleProcessJobConfig
from functions.http.id_tokens import IdTokenPolicy, IdTokenVerifier
from functions.process_job import drain_budget
from tests.cloud_tasks_standin import StandIn, cloud_tasks_standin
from tests.google_tokens import id_token_claims, make_key, strip_signature


def caller_policy(env: dict[str, str]) -> IdTokenPolicy | None:
    return GoogleProcessJobConfig.from_env(env).caller_policy


def invocation_limit_s(env: dict[str, str]) -> int | None:
    return GoogleProcessJobConfig.from_env(env).invocation_limit_s


AUDIENCE = "https://europe-west1-demo.cloudfunctions.net/process_job"
CALLER = "supajobs-invoker@demo.iam.gserviceaccount.com"


@pytest.fixture
def google() -> Iterator[StandIn]:
    with cloud_tasks_standin() as running:
        yield running


def verifier(google: StandIn, verify_signature: bool = True) -> IdTokenVerifier:
    policy = IdTokenPolicy(AUDIENCE, frozenset({CALLER}), verify_signature, google.certs_url)
    return IdTokenVerifier(policy)


def bearer(google: StandIn, **changes: Any) -> str:
    return f"Bearer {google.key.sign({**id_token_claims(AUDIENCE, CALLER), **changes})}"


def test_a_token_google_signed_for_the_audience_and_caller_passes(google: StandIn) -> None:
    claims = verifier(google).require(bearer(google))
    assert claims["email"] == CALLER


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://elsewhere.a.run.app"},
        {"email": "someone-else@demo.iam.gserviceaccount.com"},
        {"email_verified": False},
        {"iss": "https://evil.example"},
        {"exp": 1_000_000_000, "iat": 999_996_400},
    ],
    ids=["audience", "caller", "unverified", "issuer", "expired"],
)
def test_a_token_with_a_wrong_claim_is_refused(google: StandIn, changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        verifier(google).require(bearer(google, **changes))


def test_a_forged_token_is_refused(google: StandIn) -> None:
    # Another key under the same key id: the right claims, the wrong signature.
    forger = make_key(google.key.key_id)
    forged = forger.sign(id_token_claims(AUDIENCE, CALLER))
    with pytest.raises(Unauthorized):
        verifier(google).require(f"Bearer {forged}")
    with pytest.raises(Unauthorized):
        verifier(google).require(f"Bearer {strip_signature(forged)}")


def segment(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


GARBAGE = [
    None,
    "",
    "Bearer",
    "Basic abc",
    "Bearer not.a.jwt",
    "Bearer a.b",
    "Bearer é.é.é",
    f"Bearer {segment([])}.{segment({})}.c2ln",
    f"Bearer {segment({'alg': 'RS256', 'kid': ['x']})}.{segment({})}.c2ln",
    f"Bearer {segment({'alg': 'RS256', 'kid': 'standin-key-1'})}.{segment([1])}.c2ln",
    f"Bearer {segment({'alg': 'none'})}.{segment({'iss': 'https://accounts.google.com'})}.",
]


@pytest.mark.parametrize("header", GARBAGE)
@pytest.mark.parametrize("verify_signature", [True, False], ids=["google-id-token", "iam"])
def test_no_token_or_garbage_is_refused(
    google: StandIn, header: str | None, verify_signature: bool
) -> None:
    with pytest.raises(Unauthorized):
        verifier(google, verify_signature).require(header)


def test_a_refusal_never_logs_the_token(google: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(Unauthorized):
        verifier(google).require("Bearer my-bearer-secret-sent-here")
    assert caplog.records and "my-bearer-secret" not in caplog.text


def test_googles_keys_are_fetched_once_and_kept(google: StandIn) -> None:
    checks = verifier(google)
    for _ in range(5):
        checks.require(bearer(google))
    assert google.certs_fetches == 1


def test_keys_that_cannot_be_fetched_are_a_503_not_a_401(google: StandIn) -> None:
    google.certs_status = 500
    with pytest.raises(Unavailable):
        verifier(google).require(bearer(google))


def test_behind_cloud_run_iam_the_stripped_token_must_still_name_audience_and_caller(
    google: StandIn,
) -> None:
    iam = verifier(google, verify_signature=False)
    token = bearer(google).removeprefix("Bearer ")
    assert iam.require(f"Bearer {strip_signature(token)}")["email"] == CALLER
    other = google.key.sign(id_token_claims(AUDIENCE, "default@demo.iam.gserviceaccount.com"))
    with pytest.raises(Unauthorized):
        iam.require(f"Bearer {strip_signature(other)}")
    assert google.certs_fetches == 0  # nothing to verify a stripped signature with


def test_the_mode_comes_from_configuration() -> None:
    assert caller_policy({}) is None  # the local bearer secret
    policy = caller_policy(
        {
            "PROCESS_JOB_AUTH": "google-id-token",
            "PROCESS_JOB_AUDIENCE": AUDIENCE,
            "PROCESS_JOB_CALLERS": f"{CALLER}, sched@demo.iam.gserviceaccount.com",
        }
    )
    assert policy is not None and policy.verify_signature
    assert policy.service_accounts == {CALLER, "sched@demo.iam.gserviceaccount.com"}
    with pytest.raises(ConfigError, match="PROCESS_JOB_CALLERS"):
        caller_policy({"PROCESS_JOB_AUTH": "cloud-run-iam", "PROCESS_JOB_AUDIENCE": AUDIENCE})
    with pytest.raises(ConfigError, match="must be one of"):
        caller_policy({"PROCESS_JOB_AUTH": "none"})


def test_the_drain_ends_with_room_before_googles_limit() -> None:
    assert invocation_limit_s({}) is None
    assert drain_budget(840, None) == 840  # local: as before
    assert invocation_limit_s({"PROCESS_JOB_TIMEOUT_SECONDS": "1800"}) == 1800
    assert invocation_limit_s({"CLOUD_RUN_TIMEOUT_SECONDS": "3600"}) == 3600
    both = {"PROCESS_JOB_TIMEOUT_SECONDS": "1800", "CLOUD_RUN_TIMEOUT_SECONDS": "540"}
    assert invocation_limit_s(both) == 540
    assert drain_budget(3600, 1800) == 1770  # 30 s kept back to record and answer
    assert drain_budget(3600, 60) == 54  # a short limit keeps a tenth
    with pytest.raises(ConfigError):
        invocation_limit_s({"PROCESS_JOB_TIMEOUT_SECONDS": "3601"})  # past 60 minutes


@pytest.mark.parametrize(
    ("target", "env", "logged"),
    [
        (
            "webhook",
            {"WEBHOOK_SECRET": "whsec_" + "a" * 44, "PROCESS_JOB_URL": "https://x.run.app"},
            "set CLOUD_TASKS_QUEUE",
        ),
        ("process_job", {"DATABASE_URL": "postgresql://127.0.0.1:1/x"}, "PROCESS_JOB_AUTH must be"),
    ],
)
def test_the_google_targets_refuse_to_start_without_their_google_settings(
    target: str, env: dict[str, str], logged: str
) -> None:
    # The local fallbacks (the background HTTP invoker, the bearer secret) are wrong on Google:
    # a target missing its Google settings answers 503 and says why in its log.
    probe = (
        "from functions import gcp; from functions.http.types import HttpRequest;"
        f" r = gcp._{target}.serve(lambda: HttpRequest('POST', '/', {{}}, {{}}, b'{{}}'));"
        " print(r.status, r.body['error']['code'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    status, code = done.stdout.split()
    assert status == "503" and code
    assert logged in done.stderr
