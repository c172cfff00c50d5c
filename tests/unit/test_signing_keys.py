"""User tokens by their header: ES256/RS256 through the project's JWKS (cached, one refetch on an
unknown kid, never one per request), HS256 through the legacy secret, every other alg refused;
on the in-memory fakes, with a counted JWKS source and a fixed clock (no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from functions.core.errors import Unauthorized, Unavailable
from functions.core.user_tokens import verify
from functions.http.submit_api import SubmitApi
from functions.http.types import HttpRequest
from functions.jwks import REFETCH_AFTER_S, TTL_S, ProjectKeys
from tests.inmemory import InMemoryDatabase, MemoryJobStore, MemoryKindCatalog

NOW = 1_800_000_000.0
SECRET = "legacy-jwt-secret-with-at-least-32-characters!"
URL = "https://ref.supabase.co/auth/v1/.well-known/jwks.json"
USER = str(uuid.uuid4())


class Key:
    def __init__(self, alg: str, kid: str) -> None:
        self.alg, self.kid = alg, kid
        self.private: Any = (
            ec.generate_private_key(ec.SECP256R1())
            if alg == "ES256"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )

    def jwk(self) -> dict[str, Any]:
        tool = jwt.algorithms.ECAlgorithm if self.alg == "ES256" else jwt.algorithms.RSAAlgorithm
        public: dict[str, Any] = json.loads(tool.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]}

    def token(self, **claims: Any) -> str:
        body = {"sub": USER, "aud": "authenticated", "role": "authenticated", "exp": NOW + 60}
        return jwt.encode({**body, **claims}, self.private, self.alg, headers={"kid": self.kid})


class Jwks:
    """The project's JWKS endpoint: what it holds now, and how often it was asked."""

    def __init__(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.calls = 0
        self.down = False

    def __call__(self, url: str) -> dict[str, Any]:
        assert url == URL
        self.calls += 1
        if self.down:
            raise Unavailable("the project's signing keys could not be fetched (down)")
        return {"keys": [k.jwk() for k in self.keys]}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def keys_for(source: Jwks, clock: Clock, secret: str = "") -> ProjectKeys:
    return ProjectKeys(URL, secret, clock=clock, fetch=source)


def test_es256_and_rs256_tokens_verify_with_one_fetch_for_many_requests(clock: Clock) -> None:
    es, rs = Key("ES256", "es-1"), Key("RS256", "rs-1")
    source = Jwks(es, rs)
    keys = keys_for(source, clock)
    for _ in range(5):
        assert str(verify(es.token(), keys, NOW).user_id) == USER
        assert str(verify(rs.token(), keys, NOW).user_id) == USER
    assert source.calls == 1
    clock.now += TTL_S  # the cache's lifetime is over: fetched once more
    verify(es.token(), keys, NOW)
    assert source.calls == 2


def test_an_unknown_kid_refetches_once_and_then_not_until_the_interval_passes(
    clock: Clock,
) -> None:
    old, rotated = Key("ES256", "old"), Key("ES256", "rotated")
    source = Jwks(old)
    keys = keys_for(source, clock)
    verify(old.token(), keys, NOW)
    clock.now += REFETCH_AFTER_S
    source.keys.append(rotated)  # a key rotated in after the last fetch
    assert str(verify(rotated.token(), keys, NOW).user_id) == USER
    assert source.calls == 2
    forged = Key("ES256", "made-up")
    for _ in range(20):  # made-up kids: refused without a fetch each
        with pytest.raises(Unauthorized):
            verify(forged.token(), keys, NOW)
    assert source.calls == 2
    clock.now += REFETCH_AFTER_S
    with pytest.raises(Unauthorized):
        verify(forged.token(), keys, NOW)
    assert source.calls == 3


def test_hs256_verifies_with_the_legacy_secret_only_where_one_is_set(clock: Clock) -> None:
    es = Key("ES256", "es-1")
    legacy = jwt.encode(
        {"sub": USER, "aud": "authenticated", "role": "authenticated", "exp": NOW + 60},
        SECRET,
        "HS256",
    )
    assert str(verify(legacy, keys_for(Jwks(es), clock, SECRET), NOW).user_id) == USER
    with pytest.raises(Unauthorized):
        verify(legacy, keys_for(Jwks(es), clock), NOW)


@pytest.mark.parametrize("alg", ["none", "HS512", "ES384", "PS256", "EdDSA"])
def test_any_other_alg_is_refused_before_a_key_is_fetched(clock: Clock, alg: str) -> None:
    source = Jwks(Key("ES256", "es-1"))
    head = {"alg": alg, "kid": "es-1", "typ": "JWT"}
    forged = ".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode()).decode()
        for part in (head, {"sub": USER, "aud": "authenticated", "role": "authenticated"})
    )
    with pytest.raises(Unauthorized):
        verify(forged + ".c2ln", keys_for(source, clock, SECRET), NOW)
    assert source.calls == 0


def test_a_public_key_is_never_taken_as_an_hmac_secret(clock: Clock) -> None:
    """The algorithm-confusion attack: HS256 keyed with the published public key."""
    es = Key("ES256", "es-1")
    pem = es.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": USER, "aud": "authenticated", "role": "authenticated", "exp": NOW + 60}
    signing_input = ".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode()).decode()
        for part in ({"alg": "HS256", "kid": "es-1", "typ": "JWT"}, claims)
    )
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + jwt.utils.base64url_encode(mac).decode()
    with pytest.raises(Unauthorized):
        verify(forged, keys_for(Jwks(es), clock, SECRET), NOW)
    # A key verifies only its own algorithm: an RS256-labelled token with an ES256 key's kid.
    rs = Key("RS256", "es-1")
    with pytest.raises(Unauthorized):
        verify(rs.token(), keys_for(Jwks(es), clock), NOW)


def test_a_failed_refetch_keeps_the_keys_held_and_no_keys_at_all_is_503(clock: Clock) -> None:
    es = Key("ES256", "es-1")
    source = Jwks(es)
    keys = keys_for(source, clock)
    verify(es.token(), keys, NOW)
    source.down = True
    clock.now += TTL_S
    assert str(verify(es.token(), keys, NOW).user_id) == USER  # stale keys still verify
    calls = source.calls
    verify(es.token(), keys, NOW)
    assert source.calls == calls  # and the outage is not asked again on every request
    cold_clock = Clock()
    cold = keys_for(source, cold_clock)  # a cold start during the outage: nothing held
    calls = source.calls
    for _ in range(5):
        with pytest.raises(Unavailable):
            verify(es.token(), cold, NOW)
    assert source.calls == calls + 1  # asked once, not on every request
    source.down = False
    cold_clock.now += REFETCH_AFTER_S
    assert str(verify(es.token(), cold, NOW).user_id) == USER


def test_the_jobs_api_stores_an_es256_users_job_as_theirs_and_answers_401_otherwise(
    clock: Clock,
) -> None:
    es = Key("ES256", "es-1")
    db = InMemoryDatabase(wall=lambda: NOW)
    store = MemoryJobStore(db)
    api = SubmitApi(
        store,
        kinds=MemoryKindCatalog.builtin(db),
        clock=lambda: NOW,
        signing_keys=keys_for(Jwks(es), clock),
    )
    body = json.dumps({"task_name": "mine", "kind": "noop"}).encode()

    def post(token: str) -> Any:
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        return api.handle(HttpRequest("POST", "/jobs", headers, {}, body))

    created = post(es.token())
    assert created.status == 202
    listed = api.handle(
        HttpRequest("GET", "/jobs", {"authorization": f"Bearer {es.token()}"}, {}, b"")
    )
    assert [j["job_id"] for j in listed.body["jobs"]] == [created.body["job_id"]]
    refused = post(Key("ES256", "es-1").token())  # right kid, another key's signature
    assert refused.status == 401 and refused.body["error"]["code"] == "unauthorized"
    assert post(es.token(exp=NOW - 60)).status == 401
