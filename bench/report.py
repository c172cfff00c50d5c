"""The run's results as a table (stdout), a CSV and a PNG chart."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from bench.rows import LABELS, OURS, PEERS, SYSTEMS, Row, Target

CSV_FIELDS = ["kind", "key", "title", "unit", "system", "value", "ours_over_system"]


def number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(row: Row, system: str) -> str:
    value = row.values.get(system)
    if value is None:
        return "-" if system != OURS else "n/a"
    ratio = row.ratio(system) if system != OURS else None
    return number(value) + (f" ({ratio:.2f}x)" if ratio is not None else "")


def table(rows: list[Row], targets: list[Target]) -> str:
    peers = [p for p in PEERS if any(p in row.values for row in rows)]
    header = ["metric", "unit", "ours", *(LABELS[p] for p in peers), "note"]
    body = [
        [row.title, row.unit, _cell(row, OURS), *(_cell(row, p) for p in peers), row.note]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        numbers = [c.rjust(w) for c, w in zip(cells[2:-1], widths[2:-1], strict=True)]
        return "  ".join([*first, *numbers, cells[-1]]).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths[:-1])]
    out += [line(cells) for cells in body]
    out.append("(x) = ours / peer: above 1 is better for jobs/s, below 1 for ms")
    out.append("")
    name_width = max((len(t.name) for t in targets), default=0)
    out += [f"{t.verdict:4}  {t.name.ljust(name_width)}  {t.detail}" for t in targets]
    return "\n".join(out)


def write_csv(path: Path, rows: list[Row], targets: list[Target]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            for system in SYSTEMS:
                if system in row.values:
                    ratio = row.ratio(system) if system != OURS else None
                    writer.writerow(
                        {
                            "kind": "measure",
                            "key": row.key,
                            "title": row.title,
                            "unit": row.unit,
                            "system": system,
                            "value": f"{row.values[system]:.4f}",
                            "ours_over_system": "" if ratio is None else f"{ratio:.4f}",
                        }
                    )
            if not row.values:
                writer.writerow(
                    {
                        "kind": "measure",
                        "key": row.key,
                        "title": row.title,
                        "unit": row.unit,
                        "system": OURS,
                        "value": "n/a",
                        "ours_over_system": row.note,
                    }
                )
        for target in targets:
            writer.writerow(
                {
                    "kind": "target",
                    "key": target.name,
                    "title": target.detail,
                    "unit": "",
                    "system": OURS,
                    "value": target.verdict,
                    "ours_over_system": "",
                }
            )


# (title, row key prefixes, target lines to draw)
GROUPS: tuple[tuple[str, tuple[str, ...], tuple[float, ...]], ...] = (
    ("Submit (jobs/s, higher is better)", ("submit_",), ()),
    ("Drain (jobs/s, higher is better)", ("drain_",), ()),
    ("Dispatch latency (ms, lower is better; targets p50 10, p99 50)", ("dispatch_",), (10, 50)),
    ("Realtime latency (ms, lower is better; target p99 50)", ("realtime_", "fanout_p"), (50,)),
    (
        "End to end, POST to completed seen (ms, lower is better; warm targets p50 20, p99 60)",
        ("e2e_",),
        (20, 60),
    ),
    (
        "Cold start (ms, lower is better; target webhook import 150)",
        ("import_", "first_response_", "first_token_"),
        (150,),
    ),
)
COLORS = {
    "ours": "#2f6fdf",
    "pgmq": "#9aa5b1",
    "pgqueuer": "#e39b3b",
    "procrastinate": "#5aa55a",
    "celery": "#b65fcf",
}


def write_png(path: Path, rows: list[Row], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [
        (name, [r for r in rows if r.key.startswith(prefixes) and r.values], lines)
        for name, prefixes, lines in GROUPS
    ]
    groups = [(name, members, lines) for name, members, lines in groups if members]
    if not groups:
        return
    heights = [
        max(1.6, 0.42 * sum(len(r.values) for r in members) + 0.8) for _, members, _ in groups
    ]
    fig, axes = plt.subplots(
        len(groups),
        1,
        figsize=(11, sum(heights) + 1),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (name, members, lines) in zip(axes[:, 0], groups, strict=True):
        labels, values, colors, y = [], [], [], 0.0
        positions = []
        for row in members:
            for system in SYSTEMS:
                if system in row.values:
                    positions.append(y)
                    labels.append(
                        f"{row.title}: {LABELS[system]}"
                        if system == OURS
                        else f"  {LABELS[system]}"
                    )
                    values.append(row.values[system])
                    colors.append(COLORS[system])
                    y += 1
            y += 0.6
        ax.barh(positions, values, color=colors)
        ax.set_yticks(positions, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=10, loc="left")
        if name.startswith(("Submit", "Drain")):
            ax.set_xscale("log")
        for pos, value in zip(positions, values, strict=True):
            ax.annotate(
                number(value),
                (value, pos),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        for limit in lines:
            ax.axvline(limit, color="#c0392b", linestyle="--", linewidth=0.8)
        ax.margins(x=0.12)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
