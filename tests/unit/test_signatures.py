"""The Standard Webhooks verifier alone: no clock, no network; and its agreement with the
reference ``standardwebhooks`` package in both directions."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from functions.core import signatures
from functions.core.signatures import SignatureError, parse_secret, parse_secrets, sign, verify

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
KEY, OTHER_KEY = parse_secret(SECRET), parse_secret(OTHER)
BODY = b'{"job_id": "5d6c", "msg_id": 7, "task_name": "r\xc3\xa9port"}'
NOW = 1_790_000_000


def check(
    keys: tuple[bytes, ...],
    signature: str,
    body: bytes = BODY,
    ts: int = NOW,
    now: float = NOW,
    tolerance_s: float = 300,
) -> None:
    verify(keys, "msg_7", str(ts), signature, body, now=now, tolerance_s=tolerance_s)


def test_a_signature_verifies_with_its_key() -> None:
    check((KEY,), sign([KEY], "msg_7", NOW, BODY))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY.replace(b"7", b"8")}, "no matching signature"),
        ({"body": BODY + b" "}, "no matching signature"),
        ({"ts": NOW - 301}, "outside the tolerance window"),
        ({"ts": NOW + 301}, "outside the tolerance window"),
    ],
)
def test_another_body_or_a_stale_or_future_timestamp_is_rejected(
    change: dict[str, object], reason: str
) -> None:
    ts = int(change.get("ts", NOW))  # type: ignore[call-overload]
    signature = sign([KEY], "msg_7", ts, BODY)
    body = change.get("body", BODY)
    assert isinstance(body, bytes)
    with pytest.raises(SignatureError, match=reason):
        check((KEY,), signature, body=body, ts=ts)


def test_the_window_is_inclusive_and_configurable() -> None:
    check((KEY,), sign([KEY], "msg_7", NOW - 300, BODY), ts=NOW - 300)
    with pytest.raises(SignatureError, match="tolerance"):
        check((KEY,), sign([KEY], "msg_7", NOW - 61, BODY), ts=NOW - 61, tolerance_s=60)


def test_a_signature_by_another_key_or_for_another_id_is_rejected() -> None:
    with pytest.raises(SignatureError, match="no matching"):
        check((KEY,), sign([OTHER_KEY], "msg_7", NOW, BODY))
    with pytest.raises(SignatureError, match="no matching"):
        check((KEY,), sign([KEY], "msg_8", NOW, BODY))


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "signature"),
    [
        (None, str(NOW), "v1,x"),
        ("msg_7", None, "v1,x"),
        ("msg_7", str(NOW), None),
        ("", str(NOW), "v1,x"),
        ("msg_7", f"{NOW}.0", "v1,x"),
        ("msg_7", f"+{NOW}", "v1,x"),
        ("msg_7", f" {NOW}", "v1,x"),
        ("msg_7", "1e9", "v1,x"),
        ("msg_7", "٣" * 10, "v1,x"),
        ("x" * 300, str(NOW), "v1,x"),
    ],
)
def test_missing_or_malformed_headers_are_rejected(
    msg_id: str | None, timestamp: str | None, signature: str | None
) -> None:
    with pytest.raises(SignatureError):
        verify((KEY,), msg_id, timestamp, signature, BODY, now=NOW)


@pytest.mark.parametrize("noise", ["v1", "v1,", "v1,!!!", "v2,abcd", "v1a,abcd", ",", "", "v1,a b"])
def test_noise_beside_a_good_signature_is_ignored_and_alone_is_rejected(noise: str) -> None:
    good = sign([KEY], "msg_7", NOW, BODY)
    check((KEY,), f"{noise} {good}")
    with pytest.raises(SignatureError):
        check((KEY,), noise)


def test_during_a_rotation_either_key_verifies() -> None:
    keys = parse_secrets(f"{OTHER} {SECRET}")
    check(keys, sign([KEY], "msg_7", NOW, BODY))
    check(keys, sign([OTHER_KEY], "msg_7", NOW, BODY))
    both = sign([OTHER_KEY, KEY], "msg_7", NOW, BODY)
    assert len(both.split(" ")) == 2
    check((KEY,), both)
    assert parse_secrets(f" {SECRET},{OTHER}\n") == (KEY, OTHER_KEY)


def test_no_key_verifies_nothing() -> None:
    with pytest.raises(SignatureError):
        check((), sign([KEY], "msg_7", NOW, BODY))


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (base64.b64encode(bytes(32)).decode(), "starts with"),
        ("whsec_not*base64", "base64"),
        ("whsec_" + base64.b64encode(bytes(16)).decode(), "24 to 64 bytes, not 16"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "24 to 64 bytes, not 65"),
    ],
)
def test_a_malformed_secret_is_refused_without_echoing_it(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        parse_secret(secret)
    assert secret not in str(info.value)


def test_an_unpadded_secret_reads_like_a_padded_one() -> None:
    key = bytes(range(25))  # 25 bytes: base64 with one padding character
    padded = "whsec_" + base64.b64encode(key).decode()
    assert padded.endswith("=")
    assert parse_secret(padded.rstrip("=")) == parse_secret(padded) == key


def test_a_generated_secret_parses_and_differs_each_time() -> None:
    first, second = signatures.generate_secret(), signatures.generate_secret()
    assert first != second
    assert len(parse_secret(first)) == 32


# Compatibility with the reference implementation (standardwebhooks 1.1, a dev dependency).


def test_our_signature_is_the_reference_signature() -> None:
    moment = datetime.fromtimestamp(NOW, tz=UTC)
    reference = Webhook(SECRET).sign("msg_7", moment, BODY.decode())
    assert sign([KEY], "msg_7", NOW, BODY) == reference


def test_the_reference_verifies_what_we_sign_and_rejects_a_changed_body() -> None:
    import time

    now = int(time.time())
    headers = {
        "webhook-id": "msg_9",
        "webhook-timestamp": str(now),
        "webhook-signature": sign([OTHER_KEY, KEY], "msg_9", now, BODY),
    }
    assert Webhook(SECRET).verify(BODY, headers) == {
        "job_id": "5d6c",
        "msg_id": 7,
        "task_name": "réport",
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + b" ", headers)


def test_we_verify_what_the_reference_signs() -> None:
    for secret, key in ((SECRET, KEY), (OTHER, OTHER_KEY)):
        reference = Webhook(secret).sign(
            "msg_7", datetime.fromtimestamp(NOW, tz=UTC), BODY.decode()
        )
        check((KEY, OTHER_KEY), reference)
        check((key,), reference)
