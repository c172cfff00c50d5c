"""What the benchmark reports: one row a measurement (ours and each peer), one line a target."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

OURS = "ours"
PGMQ = "pgmq"
PGQUEUER = "pgqueuer"
PROCRASTINATE = "procrastinate"
CELERY = "celery"
SYSTEMS = (OURS, PGMQ, PGQUEUER, PROCRASTINATE, CELERY)
PEERS = SYSTEMS[1:]
LABELS = {
    OURS: "ours",
    PGMQ: "PGMQ alone",
    PGQUEUER: "pgqueuer",
    PROCRASTINATE: "procrastinate",
    CELERY: "Celery+Redis",
}


@dataclass
class Row:
    """One measurement: ``values`` maps a system to its figure (absent: not measured)."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    values: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def ours(self) -> float | None:
        return self.values.get(OURS)

    def ratio(self, peer: str) -> float | None:
        """ours ÷ peer, when both were measured."""
        ours, theirs = self.values.get(OURS), self.values.get(peer)
        if ours is None or theirs is None or theirs == 0 or math.isnan(theirs):
            return None
        return ours / theirs


@dataclass(frozen=True)
class Target:
    """A goal for our figures; ``passed`` is None when what it needs was not measured."""

    name: str
    passed: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.passed]
