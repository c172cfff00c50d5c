"""Who is an operator: a caller presenting the project's service-role or secret key (as the
``Authorization: Bearer`` token or the ``apikey`` header), or a signed-in user whose id is in
``SUPAJOBS_ADMIN_USER_IDS``. Keys are compared in constant time, each against every configured
key, so the time taken says nothing about which one, or how much of it, matched."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from functions import config
from functions.core.errors import Forbidden, Unauthorized
from functions.core.models import Caller
from functions.env import Settings, Var

ADMIN_USER_IDS = Var(
    "SUPAJOBS_ADMIN_USER_IDS",
    "Users (ids, comma or space separated) who may read the queue's metrics and retry in bulk.",
    example="8f3e2a1c-0b4d-4e5f-9a6b-7c8d9e0f1a2b",
)
# Each from one source (the value, an SSM parameter or a Secrets Manager secret; config.secret).
OPERATOR_KEYS = (
    Var(
        "SUPABASE_SERVICE_ROLE_KEY",
        "The project's legacy service-role key: a caller presenting it is an operator.",
        example="eyJhbGciOi...",
        secret=True,
    ),
    Var(
        "SUPABASE_SECRET_KEY",
        "The project's secret key (sb_secret_...): a caller presenting it is an operator.",
        example="sb_secret_...",
        secret=True,
    ),
)
NOT_AN_OPERATOR = "this is for the project's operators: send the service-role or secret key"


@dataclass(frozen=True)
class Operators(Settings):
    READER: ClassVar[str] = "submit (the operators' routes)"
    READS: ClassVar[tuple[Var, ...]] = (*OPERATOR_KEYS, ADMIN_USER_IDS)

    keys: tuple[str, ...] = ()
    user_ids: frozenset[UUID] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Operators:
        keys = [
            config.secret(env, var, "to let operators read the metrics")
            for var in OPERATOR_KEYS
            if var.given(env)
        ]
        users = set()
        for raw in ADMIN_USER_IDS.get(env).replace(",", " ").split():
            try:
                users.add(UUID(raw))
            except ValueError:
                raise config.ConfigError(
                    f"{ADMIN_USER_IDS.name} holds {raw[:40]!r}, not a user id"
                ) from None
        return cls(tuple(keys), frozenset(users))

    def presents_key(self, token: str | None) -> bool:
        if token is None:
            return False
        given = token.encode()
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key.encode())
        return matched

    def is_operator(
        self, bearer: str | None, api_key: str | None, caller: Callable[[], Caller | None]
    ) -> bool:
        """Whether the request is an operator's; ``caller`` verifies a user token (only called
        when no key matched, so a key is never parsed as a user token)."""
        if self.presents_key(bearer) or (bearer is None and self.presents_key(api_key)):
            return True
        if bearer is None or not self.user_ids:
            return False
        user = caller()
        return user is not None and user.user_id in self.user_ids

    def require(
        self, bearer: str | None, api_key: str | None, caller: Callable[[], Caller | None]
    ) -> None:
        """Unauthorized without credentials, Forbidden for a caller who is not an operator."""
        if self.is_operator(bearer, api_key, caller):
            return
        if bearer is None:
            raise Unauthorized(NOT_AN_OPERATOR)
        raise Forbidden(NOT_AN_OPERATOR)
