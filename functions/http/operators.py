"""Who is an operator: a caller presenting the project's service-role or secret key (as the
``Authorization: Bearer`` token or the ``apikey`` header), or a signed-in user whose id is in
``SUPAJOBS_ADMIN_USER_IDS``. Keys are compared in constant time, each against every configured
key, so the time taken says nothing about which one, or how much of it, matched."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from uuid import UUID

from functions import config
from functions.core.errors import Forbidden, Unauthorized
from functions.core.models import Caller

ADMIN_USERS = "SUPAJOBS_ADMIN_USER_IDS"
# Each from one source (the value, an SSM parameter or a Secrets Manager secret; config.secret).
KEY_NAMES = ("SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY")
NOT_AN_OPERATOR = "this is for the project's operators: send the service-role or secret key"


@dataclass(frozen=True)
class Operators:
    keys: tuple[str, ...] = ()
    user_ids: frozenset[UUID] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Operators:
        keys = []
        for name in KEY_NAMES:
            sources = [
                name + suffix for suffix in ("", config.SSM_SUFFIX, config.SECRETS_MANAGER_SUFFIX)
            ]
            if any(env.get(source, "").strip() for source in sources):
                keys.append(config.secret(env, name, "to let operators read the metrics"))
        users = set()
        for raw in env.get(ADMIN_USERS, "").replace(",", " ").split():
            try:
                users.add(UUID(raw))
            except ValueError:
                raise config.ConfigError(
                    f"{ADMIN_USERS} holds {raw[:40]!r}, not a user id"
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
