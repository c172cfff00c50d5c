"""The numeric tables of docs/benchmark.md, generated from the committed results in bench/results/.

    python scripts/bench_docs.py          # rewrite the tables in docs/benchmark.md
    python scripts/bench_docs.py --check  # exit 1 if a table differs from the results

Each table sits between two marker comments in the page,
``<!-- BEGIN GENERATED name -->`` and ``<!-- END GENERATED name -->``; everything outside the
markers is written by hand (what was run, on what machine, and why the figures are what they
are). So a figure quoted in a table is always the one in the CSV beside the run that made it,
and a new run (``make bench`` writes bench/results/latest.csv) shows in the page after one
command. Standard library only, plus the benchmark's own number format.
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from generated import write_or_check  # scripts/ is on the path when run

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmark.md"
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import number  # noqa: E402  # the same figures the run printed
from bench.rows import LABELS, OURS, SYSTEMS  # noqa: E402

MARKER = re.compile(
    r"(<!-- BEGIN GENERATED (?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)"
    r"(<!-- END GENERATED (?P=name) -->)",
    re.DOTALL,
)
ANY_MARKER = re.compile(r"<!-- (?:BEGIN|END) GENERATED ([a-z0-9_]+) -->")

Table = list[list[str]]


def markdown(header: list[str], rows: Table, numeric_from: int = 1) -> str:
    """A Markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines) + "\n"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def figure(value: float) -> str:
    """The benchmark's own format, except that a small non-zero figure keeps its digits."""
    return f"{value:.4f}" if 0 < abs(value) < 0.01 else number(value)


def _ratio_cell(value: str, ratio: str) -> str:
    text = figure(float(value))
    return text + (f" ({float(ratio):.2f}x)" if ratio else "")


def measures_table(rows: list[dict[str, str]]) -> str:
    """One line per measurement, ours and each peer measured in the same run (with ours ÷ peer)."""
    measures = [r for r in rows if r["kind"] == "measure"]
    order: list[tuple[str, str]] = []
    cells: dict[tuple[str, str], dict[str, str]] = {}
    units: dict[tuple[str, str], str] = {}
    for r in measures:
        key = (r["key"], r["title"])
        if key not in cells:
            order.append(key)
            cells[key] = {}
            units[key] = r["unit"]
        cells[key][r["system"]] = _ratio_cell(r["value"], r["ours_over_system"])
    systems = [s for s in SYSTEMS if any(s in c for c in cells.values())]
    header = ["metric", "unit", *(LABELS[s] for s in systems)]
    body = [
        [
            title,
            units[(key, title)],
            *(cells[(key, title)].get(s, "n/a" if s == OURS else "-") for s in systems),
        ]
        for key, title in order
    ]
    return markdown(header, body, numeric_from=2)


def targets_table(rows: list[dict[str, str]]) -> str:
    """The run's targets: PASS, MISS, or n/a when the run did not measure them."""
    body = [[r["value"], r["key"], r["title"]] for r in rows if r["kind"] == "target"]
    return markdown(["verdict", "target", "result"], body, numeric_from=2)


def before_after_table(before: list[dict[str, str]], after: list[dict[str, str]]) -> str:
    """Ours and each peer ratio in two runs of the same measurements (before and after a change)."""

    def index(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
        out: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        for r in rows:
            if r["kind"] == "measure":
                out.setdefault((r["key"], r["title"]), {})[r["system"]] = r
        return out

    old, new = index(before), index(after)
    peers = [
        s for s in SYSTEMS[1:] if any(s in systems for systems in (*old.values(), *new.values()))
    ]
    header = ["metric", "unit", "before: ours", "after: ours"]
    for peer in peers:
        header += [f"before: ÷ {LABELS[peer]}", f"after: ÷ {LABELS[peer]}"]
    body: Table = []
    for key in [k for k in old if k in new]:
        unit = old[key][OURS]["unit"] if OURS in old[key] else ""
        line = [key[1], unit]
        line += [
            figure(float(run[key][OURS]["value"])) if OURS in run[key] else "-"
            for run in (old, new)
        ]
        for peer in peers:
            for run in (old, new):
                ratio = run[key].get(peer, {}).get("ours_over_system", "")
                line.append(f"{float(ratio):.2f}x" if ratio else "-")
        body.append(line)
    return markdown(header, body, numeric_from=2)


BURST_COLUMNS = {
    "simulate": [
        ("submit", "submit"),
        ("wall_to_all_completed", "all completed"),
        ("e2e_p50", "e2e p50"),
        ("e2e_p95", "e2e p95"),
        ("webhook_calls", "wake-up calls"),
        ("ran_more_than_once", "ran twice"),
        ("not_completed", "not completed"),
    ],
    "noop": [
        ("queue_dead_tuples_before", "dead tuples before"),
        ("drain", "drain"),
        ("rate_first_2000", "first 2,000"),
        ("rate_last_2000", "last 2,000"),
        ("jobs_per_s", "overall"),
        ("webhook_calls", "wake-up calls"),
        ("ran_more_than_once", "ran twice"),
        ("not_completed", "not completed"),
    ],
}


COUNT_UNITS = {"calls", "jobs", "tuples"}


def _burst_cell(row: dict[str, str]) -> str:
    value = float(row["value"])
    return f"{round(value):,}" if row["unit"] in COUNT_UNITS else figure(value)


def burst_table(rows: list[dict[str, str]], phase: str) -> str:
    """One line per run of ``python -m bench.burst`` in ``phase`` (simulate or noop)."""
    runs: dict[tuple[str, str, str], dict[str, dict[str, str]]] = {}
    for r in rows:
        if r["phase"] == phase:
            runs.setdefault((r["when_utc"], r["revision"], r["params"]), {})[r["metric"]] = r
    columns = BURST_COLUMNS[phase]
    header = ["when (UTC)", "revision", "run"]
    units: dict[str, str] = {}
    for metrics in runs.values():
        for metric, r in metrics.items():
            units.setdefault(metric, r["unit"])
    header += [f"{label} ({units.get(metric, '')})" for metric, label in columns]
    header.append("load (1 min)")
    body: Table = []
    for (when, revision, params), metrics in runs.items():
        line = [when.replace("T", " ").removesuffix("Z"), f"`{revision}`", params]
        line += [_burst_cell(metrics[m]) if m in metrics else "-" for m, _ in columns]
        line.append(next(iter(metrics.values()))["load_1m"].replace("->", " → "))
        body.append(line)
    return markdown(header, body, numeric_from=3)


def exactly_once_table(paths: Iterable[Path]) -> str:
    """Per results file: how many runs, how long each took, and whether any job ran twice,
    never ran, or deadlocked."""
    header = [
        "file",
        "server",
        "variant",
        "runs",
        "jobs a run",
        "seconds a run (median, min-max)",
        "deadlocks (statistics)",
        "deadlocks (log)",
        "ran twice",
        "never ran",
        "not completed",
        "load (1 min)",
    ]
    body: Table = []
    for path in paths:
        rows = read_csv(path)
        seconds = [float(r["seconds"]) for r in rows]
        variant = ", ".join(
            f"{name}={rows[0][name]}"
            for name in ("submit", "analyze", "history")
            if name in rows[0]
        )
        loads = [float(r["load_1m"]) for r in rows]
        body.append(
            [
                f"`{path.name}`",
                ", ".join(sorted({r["server"] for r in rows})),
                variant or "-",
                str(len(rows)),
                ", ".join(sorted({r["jobs"] for r in rows}, key=int)),
                f"{statistics.median(seconds):.1f} ({min(seconds):.1f}-{max(seconds):.1f})",
                str(sum(int(r["deadlocks"]) for r in rows)),
                str(sum(int(r["log_deadlocks"]) for r in rows)),
                str(sum(int(r["executed_twice"]) for r in rows)),
                str(sum(int(r["never_executed"]) for r in rows)),
                str(sum(int(r["jobs"]) - int(r["completed"]) for r in rows)),
                f"{min(loads):.2f}-{max(loads):.2f}",
            ]
        )
    return markdown(header, body, numeric_from=3)


def tables(results: Path = RESULTS) -> dict[str, Callable[[], str]]:
    """Every generated table by its marker name, each read from ``results`` when rendered."""
    return {
        "latest_measures": lambda: measures_table(read_csv(results / "latest.csv")),
        "latest_targets": lambda: targets_table(read_csv(results / "latest.csv")),
        "burst_simulate": lambda: burst_table(read_csv(results / "burst.csv"), "simulate"),
        "burst_noop": lambda: burst_table(read_csv(results / "burst.csv"), "noop"),
        "exactly_once": lambda: exactly_once_table(sorted(results.glob("exactly_once_*.csv"))),
        "issue16_queue": lambda: before_after_table(
            read_csv(results / "issue16_queue_before.csv"),
            read_csv(results / "issue16_queue_after.csv"),
        ),
    }


def fill(page: str, results: Path = RESULTS) -> str:
    """``page`` with every generated table rendered afresh from ``results``.

    Fails on a marker without its pair, an unknown table name, or a table the page lacks, so a
    table cannot silently stop being generated."""
    makers = tables(results)
    found = [m.group("name") for m in MARKER.finditer(page)]
    named = ANY_MARKER.findall(page)
    unpaired = sorted({n for n in named if named.count(n) != 2 or n not in found})
    if unpaired:
        raise ValueError(f"unpaired or repeated GENERATED markers: {', '.join(unpaired)}")
    unknown = sorted(set(found) - set(makers))
    if unknown:
        raise ValueError(f"no table is generated under the name(s): {', '.join(unknown)}")
    missing = sorted(set(makers) - set(found))
    if missing:
        raise ValueError(f"the page lacks the generated table(s): {', '.join(missing)}")
    return MARKER.sub(
        lambda m: m.group(1) + "\n" + makers[m.group("name")]() + "\n" + m.group(4), page
    )


def main(argv: list[str] | None = None) -> int:
    return write_or_check(PAGE, lambda: fill(PAGE.read_text()), "bench_docs.py", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
