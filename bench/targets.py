"""Our goals, checked against one run's rows."""

from __future__ import annotations

from bench.rows import OURS, PGMQ, PGQUEUER, PROCRASTINATE, Row, Target


def _at_least(rows: dict[str, Row], key: str, peer: str, factor: float, name: str) -> Target:
    """Ours is at least ``factor`` times ``peer`` in row ``key`` (a throughput)."""
    row = rows.get(key)
    ours = row.values.get(OURS) if row else None
    theirs = row.values.get(peer) if row else None
    if ours is None or not theirs:
        return Target(name, None, "not measured")
    return Target(name, ours >= factor * theirs, f"{ours / theirs:.2f} x")


def _below(rows: dict[str, Row], key: str, limit: float, name: str) -> Target:
    """Ours is below ``limit`` in row ``key`` (a time in ms)."""
    row = rows.get(key)
    ours = row.values.get(OURS) if row else None
    if ours is None:
        return Target(name, None, "not measured")
    return Target(name, ours < limit, f"{ours:.1f} ms")


def evaluate(row_list: list[Row]) -> list[Target]:
    rows = {row.key: row for row in row_list}
    targets = [
        _at_least(rows, key, PGMQ, 0.8, f"submit_job >= 0.8 x pgmq.send ({key[11:-1]} client(s))")
        for key in sorted(k for k in rows if k.startswith("submit_sql_"))
    ]
    return [
        *targets,
        _at_least(rows, "drain_4w", PGQUEUER, 1, "drain, 4 workers >= pgqueuer"),
        _at_least(rows, "drain_4w", PROCRASTINATE, 3, "drain, 4 workers >= 3 x procrastinate"),
        _below(rows, "dispatch_p50", 10, "dispatch p50 < 10 ms"),
        _below(rows, "dispatch_p99", 50, "dispatch p99 < 50 ms"),
        _below(rows, "realtime_p99_200s", 50, "Realtime p99 < 50 ms at 200 subscribers"),
        _below(rows, "import_webhook", 150, "webhook imports in < 150 ms"),
    ]
