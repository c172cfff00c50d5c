"""The local stack's webhook secret is a Standard Webhooks one, also for a data folder made
before webhooks were signed."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.config import load_or_create_secrets
from functions.core.signatures import parse_secret


def test_a_new_stack_gets_a_whsec_secret_with_a_32_byte_key(tmp_path: Path) -> None:
    local = load_or_create_secrets(tmp_path)
    assert len(parse_secret(local.webhook_secret)) == 32
    assert load_or_create_secrets(tmp_path) == local


def test_an_old_bearer_secret_is_replaced_and_the_api_keys_kept(tmp_path: Path) -> None:
    old = {
        "jwt_secret": "j" * 64,
        "webhook_secret": "an-old-bearer-secret",
        "anon_key": "anon.key.kept",
        "service_role_key": "service.key.kept",
    }
    (tmp_path / "secrets.json").write_text(json.dumps(old))
    local = load_or_create_secrets(tmp_path)
    assert len(parse_secret(local.webhook_secret)) == 32
    assert (local.jwt_secret, local.anon_key, local.service_role_key) == (
        old["jwt_secret"],
        old["anon_key"],
        old["service_role_key"],
    )
    assert load_or_create_secrets(tmp_path) == local
