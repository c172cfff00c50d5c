"""The JWKS fetch itself (PyJWT's PyJWKClient) against real HTTP servers on loopback: keys
served, a JSON without usable keys, and nothing listening."""

from __future__ import annotations

import pytest

from bench.first_token import jwks_server
from functions.core.errors import Unavailable
from functions.core.user_tokens import verify
from functions.jwks import ProjectKeys, _fetch_with_pyjwt
from tests.unit.test_signing_keys import NOW, USER, Clock, Key


def test_pyjwks_fetch_of_real_loopback_servers() -> None:
    """The default fetch (PyJWT's PyJWKClient) against real HTTP servers on loopback."""
    es = Key("ES256", "es-1")
    with jwks_server({"keys": [es.jwk()]}) as url:
        keys = ProjectKeys(url, clock=Clock())
        assert str(verify(es.token(), keys, NOW).user_id) == USER
    # Serves JSON, but no usable key.
    with jwks_server({"keys": []}) as url, pytest.raises(Unavailable):
        verify(es.token(), ProjectKeys(url, clock=Clock()), NOW)
    with pytest.raises(Unavailable):  # nothing listens there any more
        _fetch_with_pyjwt(url)
