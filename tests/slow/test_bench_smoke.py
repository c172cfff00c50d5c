"""The benchmark at its tiny size (``python -m bench --quick``), so it cannot rot: every metric
row is there with positive figures, and every target has a verdict. No timing is asserted."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from bench.config import QUICK
from bench.realtime_latency import gateway_available
from bench.rows import CELERY, OURS, PGMQ, PGQUEUER, PROCRASTINATE
from devstack.services import FUNCTIONS, ROOT
from tests.conftest import get_server


def expected_rows() -> dict[str, set[str]]:
    """Row key -> the systems that must have a figure in it."""
    peers = {PGMQ, PGQUEUER, PROCRASTINATE}
    rows: dict[str, set[str]] = {}
    for name in FUNCTIONS:
        rows[f"import_{name}"] = {OURS}
        rows[f"first_response_{name}"] = {OURS}
        rows[f"package_{name}"] = set()  # n/a until `serverless package` has run
    rows["first_response_floor"] = {OURS}
    rows["first_token_import"] = {OURS}
    rows["first_token_verify"] = {OURS}
    for clients in QUICK.submit_clients:
        rows[f"submit_sql_{clients}c"] = {OURS, *peers}
        rows[f"submit_http_{clients}c"] = {OURS}
    for workers in QUICK.drain_workers:
        rows[f"drain_{workers}w"] = {OURS, *peers}
    for p in (50, 99):
        rows[f"dispatch_p{p}"] = {OURS, PGQUEUER, PROCRASTINATE}
        for subscribers in QUICK.realtime_subscribers:
            for mode in ("", "broadcast_"):
                rows[f"realtime_{mode}p{p}_{subscribers}s"] = (
                    {OURS} if gateway_available() else set()
                )
    rows["submit_batch"] = {OURS, PGMQ, PGQUEUER}
    rows["wakeups_per_job"] = set()  # may rightly be 0 once wake-ups coalesce
    rows["fanout_rate"] = {OURS}
    for p in (50, 99):
        rows[f"fanout_p{p}"] = {OURS}
        rows[f"dispatch_cold_p{p}"] = {OURS}
    for mode in ("warm", "cold"):
        for client in ("raw", "js"):
            for p in (50, 95, 99):
                rows[f"e2e_{mode}_{client}_p{p}"] = {OURS}
    return rows


def test_quick_benchmark_reports_every_metric(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": get_server("embedded").admin_url}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    with (tmp_path / "latest.csv").open() as handle:
        records = list(csv.DictReader(handle))
    measured: dict[str, dict[str, str]] = {}
    for record in records:
        if record["kind"] == "measure":
            measured.setdefault(record["key"], {})[record["system"]] = record["value"]
    for key, systems in expected_rows().items():
        assert key in measured, f"no row {key}"
        for system in systems:
            assert float(measured[key][system]) > 0, (key, system, measured[key])
        for system, value in measured[key].items():
            zero_ok = key == "wakeups_per_job"
            assert value == "n/a" or float(value) > (-1 if zero_ok else 0), (key, system, value)
    celery_rows = [k for k in measured if CELERY in measured[k]]
    assert not celery_rows or {"submit_sql_1c", "drain_1w"} <= set(celery_rows)

    verdicts = [r["value"] for r in records if r["kind"] == "target"]
    assert len(verdicts) == 19 and set(verdicts) <= {"PASS", "MISS", "n/a"}
    for record in records:
        if record["kind"] == "measure":
            assert record["title"] in run.stdout
    assert (tmp_path / "latest.png").stat().st_size > 10_000
