"""What every metric gets: the sizes, the databases, Redis (None: Celery is skipped), a log
file for child processes' output, and which peers to measure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from bench.config import Sizes
from bench.pg import Databases


@dataclass(frozen=True)
class Context:
    sizes: Sizes
    dbs: Databases
    redis_url: str | None
    log: IO[str]
    peers: frozenset[str]
    say: Callable[[str], None]

    def wants(self, peer: str) -> bool:
        return peer in self.peers and (peer != "celery" or self.redis_url is not None)
