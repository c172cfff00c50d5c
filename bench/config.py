"""The benchmark's sizes: the defaults (a few minutes in all), and ``--quick`` (seconds)."""

from __future__ import annotations

from dataclasses import dataclass

METRICS = ("cold", "submit", "batch", "drain", "dispatch", "realtime", "e2e", "fanout", "wakeups")


@dataclass(frozen=True)
class Sizes:
    submit_jobs: int = 2000
    http_jobs: int = 1000
    submit_clients: tuple[int, ...] = (1, 8)
    batch_jobs: int = 30_000
    rounds: int = 3
    dispatch_jobs: int = 200
    drain_jobs: int = 10_000
    drain_workers: tuple[int, ...] = (1, 4)
    realtime_updates: int = 100
    e2e_jobs: int = 100
    e2e_cold_jobs: int = 20
    e2e_cold_gap_s: float = 2.0
    fanout_updates: int = 100
    fanout_burst: int = 200
    wakeup_seconds: float = 10.0
    realtime_subscribers: tuple[int, ...] = (1, 200)
    cold_repeats: int = 5


# Same client, worker and subscriber counts as the defaults, so a quick run has every row.
QUICK = Sizes(
    submit_jobs=60,
    http_jobs=40,
    batch_jobs=2000,
    rounds=1,
    dispatch_jobs=5,
    drain_jobs=200,
    realtime_updates=5,
    e2e_jobs=10,
    e2e_cold_jobs=3,
    e2e_cold_gap_s=1.0,
    fanout_updates=5,
    fanout_burst=20,
    wakeup_seconds=2.0,
    cold_repeats=1,
)
