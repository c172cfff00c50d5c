"""What the benchmark reads from the environment, once; its flags override each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from functions.config import DATABASE_URL
from functions.env import Settings, Var

REDIS_URL = Var(
    "REDIS_URL",
    "The Redis the benchmark's Celery peer uses; unset, BENCH_REDIS_URL's default; not"
    " answering, a private redis-server, else Celery is skipped.",
    example="redis://127.0.0.1:6379/15",
)
BENCH_REDIS_URL = Var(
    "BENCH_REDIS_URL",
    "Set by the benchmark for its Celery workers (the broker they connect to).",
    default="redis://127.0.0.1:6379/15",
)


@dataclass(frozen=True)
class BenchSettings(Settings):
    """``python -m bench`` and ``python -m bench.burst``: DATABASE_URL unset, an embedded
    Postgres."""

    READER: ClassVar[str] = "bench"
    READS: ClassVar[tuple[Var, ...]] = (DATABASE_URL, REDIS_URL)

    database_url: str | None
    redis_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BenchSettings:
        return cls(DATABASE_URL.get(env) or None, REDIS_URL.get(env) or None)


@dataclass(frozen=True)
class CeleryPeerSettings(Settings):
    """The Celery peer's workers: the broker the benchmark passed them."""

    READER: ClassVar[str] = "bench (Celery peer)"
    READS: ClassVar[tuple[Var, ...]] = (BENCH_REDIS_URL,)

    broker_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CeleryPeerSettings:
        return cls(BENCH_REDIS_URL.get(env))
