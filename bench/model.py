"""``python -m bench.model``: how many jobs a second a deployment sustains, which limit binds
first, and what a million jobs cost, from the measured cost of one job and the platforms'
published limits (docs/scale-model.md explains every term and cites every limit).

    python -m bench.model                                  # Micro compute, Lambda workers
    python -m bench.model --compute Large --max-workers 40 --task-seconds 0.5
    python -m bench.model --check bench/results/issue24_after1.csv   # against this machine

The job's database cost comes from ``python -m bench.profile`` (pg_stat_statements, per
statement); the worker's from the benchmark's 1-worker no-op drain. ``--check`` predicts the
benchmark's multi-client and multi-worker rows on this machine from its single-client and
single-worker rows (both from the same run) and says whether each prediction is within 25 %.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Compute:
    """A Supabase compute size (docs: platform/compute-add-ons)."""

    name: str
    cores: float
    dedicated: bool
    direct_connections: int
    pooler_clients: int
    usd_per_hour: float


COMPUTE = {
    c.name: c
    for c in (
        Compute("Nano", 0.5, False, 60, 200, 0.0),
        Compute("Micro", 2, False, 60, 200, 0.01344),
        Compute("Small", 2, False, 90, 400, 0.0206),
        Compute("Medium", 2, False, 120, 600, 0.0822),
        Compute("Large", 2, True, 160, 800, 0.1517),
        Compute("XL", 4, True, 240, 1000, 0.2877),
        Compute("2XL", 8, True, 380, 1500, 0.562),
        Compute("4XL", 16, True, 480, 3000, 1.32),
    )
}

# Realtime messages a second, by plan (docs: realtime/limits).
REALTIME_MESSAGES_PER_S = {"free": 100, "pro": 500, "pro-no-cap": 2500, "team": 2500}
# pg_net's worker sends at most about this many requests a second (its worker loop: a batch
# of 200, then a wait of up to a second; README "pg_net relay").
PG_NET_REQUESTS_PER_S = 200.0
# Lambda: default account concurrency, and prices in us-east-1 (aws.amazon.com/lambda/pricing).
LAMBDA_ACCOUNT_CONCURRENCY = 1000
LAMBDA_USD_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_USD_PER_REQUEST = 0.20 / 1e6
# Cloud Run functions: max instances a function gets when none is set (cloud.google.com,
# functions/docs/configuring/max-instances); one drain per instance.
CLOUD_RUN_DEFAULT_MAX_INSTANCES = 100
# Connections a process_job instance holds (claimer + heartbeat; README "Connections").
CONNECTIONS_PER_WORKER = 2
# Changes Realtime sends per job to a subscriber of job_results: insert, running, completed.
CHANGES_PER_JOB = 3


@dataclass(frozen=True)
class JobCosts:
    """Measured cost of one job. Database seconds are the server's time per job
    (pg_stat_statements, top-level statements); worker seconds are what one worker spends
    per no-op job end to end (1 / its drain rate), round trips included."""

    db_submit_s: float = 296e-6  # submit_job, one a call (issue24_profile_quiet.csv)
    db_batch_submit_s: float = 125e-6  # submit_jobs, 1,000 a call
    db_drain_s: float = 268e-6  # claim_jobs + finish_attempts, batches of 10
    worker_s: float = 1 / 1642  # 1-worker no-op drain
    submit_function_s: float = 0.010  # a warm submit call's duration (its own time)
    webhook_s: float = 0.005  # a warm webhook call's duration


@dataclass(frozen=True)
class Deployment:
    compute: str = "Micro"
    platform: str = "lambda"  # lambda | cloud-run
    max_workers: int = 5  # the database's worker ceiling (private.settings max_workers)
    batch_size: int = 10
    task_s: float = 0.0  # mean task duration
    worker_memory_gb: float = 0.5
    submit_batch: int = 1  # jobs per submit call (1: submit_job; up to 1,000: submit_jobs)
    realtime_plan: str = "pro"
    realtime_subscribers: int = 1  # clients that receive every job's changes
    wakeups_per_job: float = 0.02  # measured in the burst benchmark (ISSUE16_17.md)
    db_cpu_share: float = 0.7  # of the database's cores, what the jobs may use
    via_pooler: bool = True


@dataclass
class Prediction:
    limits: dict[str, float] = field(default_factory=dict)  # name -> jobs/s it allows
    usd_per_million: dict[str, float] = field(default_factory=dict)

    @property
    def jobs_per_s(self) -> float:
        return min(self.limits.values())

    @property
    def binding(self) -> str:
        return min(self.limits, key=lambda name: self.limits[name])


def per_worker_rate(costs: JobCosts, deployment: Deployment) -> float:
    """Jobs a second one worker finishes: a batch runs side by side, so a batch takes the task's
    duration plus the measured per-job cost of the loop for each job in it."""
    batch = deployment.batch_size
    return batch / (deployment.task_s + batch * costs.worker_s)


def predict(costs: JobCosts, deployment: Deployment) -> Prediction:
    compute = COMPUTE[deployment.compute]
    prediction = Prediction()
    db_submit = costs.db_submit_s if deployment.submit_batch == 1 else costs.db_batch_submit_s
    db_per_job = db_submit + costs.db_drain_s
    prediction.limits["database CPU"] = compute.cores * deployment.db_cpu_share / db_per_job

    if deployment.via_pooler:
        connection_room = compute.pooler_clients // 2  # half the pooler's clients for the rest
    else:
        connection_room = int(compute.direct_connections * 0.4)  # Supabase's guidance
    platform_cap = (
        LAMBDA_ACCOUNT_CONCURRENCY
        if deployment.platform == "lambda"
        else CLOUD_RUN_DEFAULT_MAX_INSTANCES
    )
    workers = min(deployment.max_workers, connection_room // CONNECTIONS_PER_WORKER, platform_cap)
    rate = per_worker_rate(costs, deployment)
    prediction.limits[f"workers ({workers} x {rate:,.0f} jobs/s)"] = workers * rate

    if deployment.wakeups_per_job > 0:
        prediction.limits["pg_net wake-ups"] = PG_NET_REQUESTS_PER_S / deployment.wakeups_per_job
    if deployment.realtime_subscribers > 0:
        quota = REALTIME_MESSAGES_PER_S[deployment.realtime_plan]
        prediction.limits["Realtime messages"] = quota / (
            CHANGES_PER_JOB * deployment.realtime_subscribers
        )

    jobs_per_s = prediction.jobs_per_s
    prediction.usd_per_million["database"] = compute.usd_per_hour / (jobs_per_s * 3600) * 1e6
    gb_s = LAMBDA_USD_PER_GB_S["arm64"]
    worker_seconds = 1 / rate  # instance-seconds per job
    prediction.usd_per_million["process_job"] = (
        worker_seconds * deployment.worker_memory_gb * gb_s
        + deployment.wakeups_per_job * LAMBDA_USD_PER_REQUEST
    ) * 1e6
    prediction.usd_per_million["webhook"] = (
        deployment.wakeups_per_job * (LAMBDA_USD_PER_REQUEST + costs.webhook_s * 0.128 * gb_s) * 1e6
    )
    prediction.usd_per_million["submit"] = (
        (LAMBDA_USD_PER_REQUEST + costs.submit_function_s * 0.256 * gb_s)
        / deployment.submit_batch
        * 1e6
    )
    return prediction


# --check: this machine, from one benchmark run's CSV.


def _values(path: Path) -> dict[tuple[str, str], float]:
    with path.open() as f:
        return {
            (row["key"], row["system"]): float(row["value"])
            for row in csv.DictReader(f)
            if row["kind"] == "measure"
        }


def local_predictions(
    values: dict[tuple[str, str], float], cores: float
) -> list[tuple[str, str, float, float]]:
    """(row, system, predicted, measured) on a machine where clients, workers and Postgres share
    ``cores`` with whatever else runs there. One client or worker runs its round trips one after
    another, keeping about one core busy between itself and its backend; n of them can use at
    most min(n, cores). How much of that this loaded machine gave in this run is read off the
    peers measured in it (their n-to-1 ratio), and ours is predicted from its own 1-client or
    1-worker row with that same ratio: a prediction from our single-client cost and the
    machine's parallelism, checked against our measured n-client row."""
    checks = []
    pairs = [("submit_sql_1c", "submit_sql_8c", 8), ("drain_1w", "drain_4w", 4)]
    for one, many, count in pairs:
        single = values.get((one, "ours"))
        measured = values.get((many, "ours"))
        peers = [
            values[(many, peer)] / values[(one, peer)]
            for peer in ("pgmq", "pgqueuer")
            if (one, peer) in values and (many, peer) in values
        ]
        if single is None or measured is None or not peers:
            continue
        parallelism = min(sum(peers) / len(peers), count, cores)
        checks.append((many, "ours", single * parallelism, measured))
    return checks


def _check(path: Path, cores: float) -> int:
    checks = local_predictions(_values(path), cores)
    if not checks:
        print(f"{path} has no 1-and-n rows to check")
        return 1
    print(f"{'row':<16} {'system':<10} {'predicted':>10} {'measured':>10}  off")
    worst = 0.0
    for row, system, predicted, measured in checks:
        off = predicted / measured - 1
        worst = max(worst, abs(off))
        print(f"{row:<16} {system:<10} {predicted:>10,.0f} {measured:>10,.0f}  {off:+.0%}")
    print(f"worst: {worst:.0%} ({'within' if worst <= 0.25 else 'NOT within'} 25 %)")
    return 0


def _measure(out: Path) -> int:
    from bench.model_check import measure

    with out.with_suffix(".log").open("w") as log:
        results = measure(log, lambda line: print(f"[model] {line}", flush=True))
    worst = 0.0
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["check", "predicted_jobs_per_s", "measured_jobs_per_s", "off"])
        print(f"{'check':<32} {'predicted':>10} {'measured':>10}  off")
        for what, predicted, measured in results:
            off = predicted / measured - 1
            worst = max(worst, abs(off))
            writer.writerow([what, round(predicted, 1), round(measured, 1), round(off, 3)])
            print(f"{what:<32} {predicted:>10,.0f} {measured:>10,.0f}  {off:+.0%}")
    print(f"worst: {worst:.0%} ({'within' if worst <= 0.25 else 'NOT within'} 25 %); wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compute", default="Micro", choices=sorted(COMPUTE))
    parser.add_argument("--platform", default="lambda", choices=("lambda", "cloud-run"))
    parser.add_argument("--max-workers", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--task-seconds", type=float, default=0.0)
    parser.add_argument("--submit-batch", type=int, default=1)
    parser.add_argument("--realtime-plan", default="pro", choices=sorted(REALTIME_MESSAGES_PER_S))
    parser.add_argument("--realtime-subscribers", type=int, default=1)
    parser.add_argument(
        "--wakeups-per-job",
        type=float,
        default=0.02,
        help="signed wake-up calls per job: 0.02 in a burst (ISSUE16_17.md), up to 1 when jobs"
        " trickle into an idle queue one at a time",
    )
    parser.add_argument("--direct", action="store_true", help="workers connect directly")
    parser.add_argument("--check", type=Path, help="a benchmark CSV of this machine")
    parser.add_argument("--cores", type=float, default=2.0, help="this machine's, for --check")
    parser.add_argument(
        "--measure",
        type=Path,
        metavar="CSV",
        help="measure the model's database and worker terms on this machine, write them to CSV",
    )
    args = parser.parse_args(argv)
    if args.check:
        return _check(args.check, args.cores)
    if args.measure:
        return _measure(args.measure)
    deployment = Deployment(
        compute=args.compute,
        platform=args.platform,
        max_workers=args.max_workers,
        batch_size=args.batch_size,
        task_s=args.task_seconds,
        submit_batch=args.submit_batch,
        realtime_plan=args.realtime_plan,
        realtime_subscribers=args.realtime_subscribers,
        wakeups_per_job=args.wakeups_per_job,
        via_pooler=not args.direct,
    )
    prediction = predict(JobCosts(), deployment)
    print(f"{deployment}\n")
    for name, limit in sorted(prediction.limits.items(), key=lambda item: item[1]):
        mark = "  <- binds first" if name == prediction.binding else ""
        print(f"  {name:<36} {limit:>12,.0f} jobs/s{mark}")
    print(f"\nsustained: {prediction.jobs_per_s:,.0f} jobs/s; per million jobs:")
    for name, usd in prediction.usd_per_million.items():
        print(f"  {name:<12} ${usd:,.2f}")
    print(f"  {'total':<12} ${sum(prediction.usd_per_million.values()):,.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
