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


def _at_most_peer(rows: dict[str, Row], key: str, peer: str, name: str) -> Target:
    """Ours is no more than ``peer`` in row ``key`` (a time in ms)."""
    row = rows.get(key)
    ours = row.values.get(OURS) if row else None
    theirs = row.values.get(peer) if row else None
    if ours is None or theirs is None:
        return Target(name, None, "not measured")
    return Target(name, ours <= theirs, f"{ours:.1f} vs {theirs:.1f} ms")


def _at_most(rows: dict[str, Row], key: str, limit: float, name: str, unit: str) -> Target:
    row = rows.get(key)
    ours = row.values.get(OURS) if row else None
    if ours is None:
        return Target(name, None, "not measured")
    return Target(name, ours <= limit, f"{ours:.3g} {unit}")


def _reported(rows: dict[str, Row], keys: tuple[str, ...], name: str) -> Target:
    """A figure the issue asks to see, with no limit: PASS once measured."""
    found = [rows[k].values.get(OURS) for k in keys if k in rows]
    if not found or any(v is None for v in found):
        return Target(name, None, "not measured")
    return Target(name, True, ", ".join(f"{v:.1f} ms" for v in found if v is not None))


def _issue_11(rows: dict[str, Row]) -> list[Target]:
    """Issue 11's targets, in its order."""
    return [
        _at_most(
            rows, "wakeups_per_job", 0.01, "webhook requests per job at 1,000 jobs/s <= 0.01", "req"
        ),
        _at_least(
            rows, "submit_batch", PGQUEUER, 1, "batch submit_jobs >= pgqueuer's batched enqueue"
        ),
        _at_least(rows, "drain_1w", PGQUEUER, 1, "drain, 1 worker >= pgqueuer"),
        _at_most_peer(rows, "dispatch_p50", PGQUEUER, "dispatch p50 (warm) <= pgqueuer's"),
        _below(rows, "dispatch_p99", 20, "dispatch p99 (warm) < 20 ms"),
        _reported(
            rows, ("dispatch_cold_p50", "dispatch_cold_p99"), "cold dispatch p50, p99 reported"
        ),
        _below(rows, "e2e_warm_raw_p50", 20, "e2e warm p50 < 20 ms (raw websocket)"),
        _below(rows, "e2e_warm_raw_p99", 60, "e2e warm p99 < 60 ms (raw websocket)"),
        _below(rows, "e2e_warm_js_p50", 20, "e2e warm p50 < 20 ms (supabase-js, Chromium)"),
        _below(rows, "e2e_warm_js_p99", 60, "e2e warm p99 < 60 ms (supabase-js, Chromium)"),
        _below(rows, "fanout_p99", 50, "gateway p99 < 50 ms, 200 minimal subscribers"),
        _at_least_value(
            rows, "fanout_rate", 5000, "gateway >= 5,000 deliveries/s, 200 subscribers"
        ),
    ]


def _at_least_value(rows: dict[str, Row], key: str, floor: float, name: str) -> Target:
    row = rows.get(key)
    ours = row.values.get(OURS) if row else None
    if ours is None:
        return Target(name, None, "not measured")
    return Target(name, ours >= floor, f"{ours:,.0f}/s")


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
        *_issue_11(rows),
        _below(rows, "realtime_p99_200s", 50, "Realtime p99 < 50 ms at 200 Python clients"),
        _below(
            rows,
            "realtime_broadcast_p99_200s",
            50,
            "Realtime p99 < 50 ms at 200 Python clients (Broadcast)",
        ),
        _below(rows, "import_webhook", 150, "webhook imports in < 150 ms"),
    ]
