"""The local Auth API (anonymous sign-in, refresh, user, sign-out) on the Realtime gateway's
port, as supabase-js calls it; and two signed-in users on the gateway, each receiving only the
changes to their own jobs (RLS with their claims), while anon receives only public ones."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from devstack.auth.keys import ApiKeys, generate_jwt_secret, mint_keys
from devstack.realtime import GatewayConfig, RunningGateway, start_in_thread
from tests.stack.test_realtime_gateway import JOBS, LoopThread, raw_connect


@pytest.fixture(scope="module")
def secret() -> str:
    return generate_jwt_secret()


@pytest.fixture(scope="module")
def keys(secret: str) -> ApiKeys:
    return mint_keys(secret)


PUBLISHABLE = "sb_publishable_local-auth-test-key"


@pytest.fixture(params=["ES256", "HS256"])
def gateway(db_url: str, secret: str, request: pytest.FixtureRequest) -> Iterator[RunningGateway]:
    """The gateway with its Auth signing as a new project (ES256) or a legacy one (HS256)."""
    config = GatewayConfig(
        db_url, secret, signing_algorithm=request.param, api_keys={PUBLISHABLE: "anon"}
    )
    with start_in_thread(config) as running:
        yield running


def verified_claims(gateway: RunningGateway, token: str, secret: str) -> dict[str, Any]:
    """The token's claims as a Supabase client checks them: by its header, an asymmetric
    token against the JWKS the Auth publishes (fetched with no apikey), HS256 by the secret."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == gateway.gateway.config.signing_algorithm
    key: Any = secret
    if header["alg"] == "ES256":
        jwks = httpx.get(f"http://127.0.0.1:{gateway.port}/auth/v1/.well-known/jwks.json")
        assert jwks.status_code == 200 and "max-age" in jwks.headers["cache-control"]
        (public,) = jwks.json()["keys"]
        assert public["kid"] == header["kid"] and "d" not in public  # no private part
        key = jwt.PyJWK(public).key
    claims: dict[str, Any] = jwt.decode(token, key, [header["alg"]], audience="authenticated")
    return claims


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def auth(gateway: RunningGateway, key: str | None) -> httpx.Client:
    headers = {"apikey": key} if key else {}
    return httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}/auth/v1", headers=headers)


def sign_in(gateway: RunningGateway, key: str) -> dict[str, Any]:
    with auth(gateway, key) as client:
        response = client.post("/signup", json={"data": {}, "gotrue_meta_security": {}})
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def test_anonymous_sign_in_refresh_user_and_sign_out(
    gateway: RunningGateway, keys: ApiKeys, secret: str
) -> None:
    with auth(gateway, None) as client:
        assert client.post("/signup", json={}).status_code == 401  # no apikey
    session = sign_in(gateway, keys.anon_key)
    assert session["token_type"] == "bearer" and session["expires_in"] == 3600
    assert session["expires_at"] > 0 and session["refresh_token"]
    claims = verified_claims(gateway, session["access_token"], secret)
    user = session["user"]
    assert claims["sub"] == user["id"] and uuid.UUID(user["id"])
    assert (claims["role"], claims["is_anonymous"], user["is_anonymous"]) == (
        "authenticated",
        True,
        True,
    )
    bearer = {"authorization": f"Bearer {session['access_token']}"}
    with auth(gateway, keys.anon_key) as client:
        assert client.get("/user", headers=bearer).json()["id"] == user["id"]
        assert client.get("/user", headers={"authorization": "Bearer x"}).status_code == 403
        # A token of another algorithm than the keys' (here none at all) is refused.
        unsigned = jwt.encode({**claims}, key="", algorithm="none")
        none_bearer = {"authorization": f"Bearer {unsigned}"}
        assert client.get("/user", headers=none_bearer).status_code == 403
    with auth(gateway, PUBLISHABLE) as client:  # today's opaque key serves as well
        assert client.get("/user", headers=bearer).json()["id"] == user["id"]
    with auth(gateway, "sb_publishable_not-this-projects") as client:
        assert client.get("/user", headers=bearer).status_code == 401
    with auth(gateway, keys.anon_key) as client:
        refreshed = client.post(
            "/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": session["refresh_token"]},
        )
        assert refreshed.status_code == 200
        assert refreshed.json()["user"]["id"] == user["id"]
        again = client.post(
            "/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": session["refresh_token"]},
        )
        assert again.status_code == 400  # used up: rotation
        assert again.json()["error_code"] == "refresh_token_not_found"

        email = client.post("/signup", json={"email": "a@example.com", "password": "secret123"})
        assert email.status_code == 422

        new_bearer = {"authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert client.post("/logout", headers=new_bearer).status_code == 204
        after = client.post(
            "/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": refreshed.json()["refresh_token"]},
        )
        assert after.status_code == 400

        preflight = client.options(
            "/signup",
            headers={"origin": "http://127.0.0.1:24320", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "apikey" in preflight.headers["access-control-allow-headers"]


def test_two_users_each_receive_only_their_own_jobs_changes(
    gateway: RunningGateway, keys: ApiKeys, db_url: str, loop: LoopThread
) -> None:
    alice, bob = sign_in(gateway, keys.anon_key), sign_in(gateway, keys.anon_key)

    async def subscribe(token: str | None) -> Any:
        # The anonymous subscriber connects with today's publishable key, the users with the
        # legacy anon key and their (ES256 or HS256) access token.
        client = await raw_connect(gateway, keys.anon_key if token else PUBLISHABLE)
        payload: dict[str, Any] = {"config": {"postgres_changes": [JOBS]}}
        if token:
            payload["access_token"] = token
        await client.send("1", "1", "realtime:jobs", "phx_join", payload)
        await client.recv_until(lambda f: f[3] == "system")
        return client

    async def scenario() -> dict[str, list[str]]:
        clients = {
            "alice": await subscribe(alice["access_token"]),
            "bob": await subscribe(bob["access_token"]),
            "anon": await subscribe(None),
        }

        def insert() -> None:
            with psycopg.connect(db_url, autocommit=True) as conn:
                for name, owner in (
                    ("alice's", alice["user"]["id"]),
                    ("bob's", bob["user"]["id"]),
                    ("public", None),
                ):
                    conn.execute(
                        "insert into job_results (task_name, owner_id) values (%s, %s)",
                        (name, owner),
                    )
                # Committed last: once everyone has it, nothing else is on its way.
                conn.execute("insert into job_results (task_name) values ('end')")
                for owner in (alice["user"]["id"], bob["user"]["id"]):
                    conn.execute(
                        "insert into job_results (task_name, owner_id) values ('end', %s)",
                        (owner,),
                    )

        await asyncio.to_thread(insert)
        seen: dict[str, list[str]] = {}
        for who, client in clients.items():
            names: list[str] = []
            while "end" not in names:
                frame = await client.recv()
                if frame[3] == "postgres_changes":
                    names.append(frame[4]["data"]["record"]["task_name"])
            seen[who] = names
            await client.ws.close()
        return seen

    seen = loop.run(scenario())
    assert seen == {"alice": ["alice's", "end"], "bob": ["bob's", "end"], "anon": ["public", "end"]}
