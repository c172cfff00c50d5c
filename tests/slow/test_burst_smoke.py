"""``python -m bench.burst`` at a tiny size, so it cannot rot: every metric row is written with a
figure, every job completed. No timing is asserted."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from devstack.services import ROOT
from tests.conftest import get_server

SIMULATE = {
    "submit",
    "wall_to_all_completed",
    "e2e_p50",
    "e2e_p95",
    "webhook_calls",
    "webhook_calls_per_job",
    "ran_more_than_once",
    "not_completed",
}
NOOP = {
    "queue_dead_tuples_before",
    "drain",
    "jobs_per_s",
    "webhook_calls",
    "ran_more_than_once",
    "not_completed",
    "queue_dead_tuples_at_end",
}


def test_the_burst_benchmark_writes_every_metric(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": get_server("embedded").admin_url}
    args = ["--jobs", "20", "--seconds", "0.1", "--noop-jobs", "200", "--noop-rounds", "2"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.burst", *args, "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with (tmp_path / "burst.csv").open() as rows:
        written = list(csv.DictReader(rows))
    by_phase: dict[str, set[str]] = {}
    for row in written:
        by_phase.setdefault(row["phase"], set()).add(row["metric"])
        float(row["value"])
    assert by_phase == {"simulate": SIMULATE, "noop": NOOP}
    assert all(float(r["value"]) == 0 for r in written if r["metric"] in ("not_completed",))
    assert (tmp_path / "burst_noop_rate.csv").exists()
