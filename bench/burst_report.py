"""bench.burst's output: a table on stderr and rows appended to CSV files, so runs before and
after a change sit side by side (each row says which revision and which parameters)."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.services import ROOT

if TYPE_CHECKING:
    from bench.burst import Result

RESULTS = ROOT / "bench" / "results"
FIELDS = ["when_utc", "revision", "phase", "params", "metric", "value", "unit", "load_1m"]


def _revision() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def show(phase: str, metrics: dict[str, tuple[float, str]]) -> None:
    for name, (value, unit) in metrics.items():
        print(f"  {name:<28} {value:>12,.3f} {unit}   [{phase}]", file=sys.stderr)


def _append(path: Path, fields: list[str], rows: list[dict[str, object]]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def write(out: Path, results: list[Result], load_before: float, load_after: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    revision = _revision()
    load = f"{load_before:.2f}->{load_after:.2f}"
    rows: list[dict[str, object]] = []
    series: list[dict[str, object]] = []
    for result in results:
        for name, (value, unit) in result.metrics.items():
            rows.append(
                dict(
                    zip(
                        FIELDS,
                        [
                            when,
                            revision,
                            result.phase,
                            result.params,
                            name,
                            f"{value:.4f}",
                            unit,
                            load,
                        ],
                        strict=True,
                    )
                )
            )
        for second, completed in result.series:
            series.append(
                {"when_utc": when, "revision": revision, "second": second, "completed": completed}
            )
    _append(out / "burst.csv", FIELDS, rows)
    if series:
        _append(
            out / "burst_noop_rate.csv", ["when_utc", "revision", "second", "completed"], series
        )
