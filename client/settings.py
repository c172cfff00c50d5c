"""What the ``supajobs`` command reads from the environment, once: where the project is and
which key and user it acts with. Flags override each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from functions.config import SUPABASE_PUBLISHABLE_KEY, SUPABASE_URL
from functions.env import Settings, Var

FUNCTIONS_URL = Var(
    "FUNCTIONS_URL",
    "Where the functions are (the jobs API is FUNCTIONS_URL/jobs).",
    example="http://127.0.0.1:24323",
)
SUPABASE_ANON_KEY = Var(
    "SUPABASE_ANON_KEY",
    "The project's legacy anon key (a JWT); the client uses it when SUPABASE_PUBLISHABLE_KEY"
    " is unset.",
    example="eyJhbGciOiJIUzI1NiIs...",
)
SUPABASE_ACCESS_TOKEN = Var(
    "SUPABASE_ACCESS_TOKEN",
    "A Supabase user's access token: the client's jobs are theirs (own jobs); unset, public.",
    example="eyJhbGciOiJFUzI1NiIs...",
)


@dataclass(frozen=True)
class ClientSettings(Settings):
    READER: ClassVar[str] = "client (supajobs)"
    READS: ClassVar[tuple[Var, ...]] = (
        FUNCTIONS_URL,
        SUPABASE_URL,
        SUPABASE_PUBLISHABLE_KEY,
        SUPABASE_ANON_KEY,
        SUPABASE_ACCESS_TOKEN,
    )

    functions_url: str | None
    supabase_url: str | None
    key: str | None
    access_token: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ClientSettings:
        return cls(
            functions_url=FUNCTIONS_URL.get(env) or None,
            supabase_url=SUPABASE_URL.get(env) or None,
            key=SUPABASE_PUBLISHABLE_KEY.get(env) or SUPABASE_ANON_KEY.get(env) or None,
            access_token=SUPABASE_ACCESS_TOKEN.get(env) or None,
        )
