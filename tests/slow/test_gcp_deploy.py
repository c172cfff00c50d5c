"""deploy/gcp/deploy.sh without a Google account: its dry run prints every gcloud command and
runs none, the commands agree with each other (URLs, audiences, deadlines, accounts), a typo'd
variable stops it, and, where the Google Cloud SDK is installed, gcloud's own parser accepts
every command (each then stops only for want of a signed-in account)."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.gcloud_sdk import GCLOUD, NEEDS_GCLOUD

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "gcp" / "deploy.sh"
PROJECT = "demo-project"
URL = f"https://europe-west1-{PROJECT}.cloudfunctions.net/supajobs-process-job"


def dry_run(
    tmp_path: Path, *args: str, script: Path = SCRIPT, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # A gcloud that records being called: a dry run must never call it.
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "gcloud").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/called\nexit 1\n')
    (fake / "gcloud").chmod(0o755)
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": f"{fake}:/usr/bin:/bin", "DRY_RUN": "1", **(env or {})},
    )


def commands(output: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("+ ")]


def flags(command: list[str]) -> dict[str, str]:
    return dict(arg[2:].partition("=")[::2] for arg in command if arg.startswith("--"))


def env_vars(command: list[str]) -> dict[str, str]:
    raw = flags(command)["set-env-vars"]
    separator = ","
    if raw.startswith("^"):  # gcloud's alternate delimiter: ^;^A=1;B=2
        separator, raw = raw[1], raw[3:]
    return dict(pair.partition("=")[::2] for pair in raw.split(separator))


def deploy_of(cmds: list[list[str]], name: str) -> list[str]:
    [found] = [c for c in cmds if c[1:3] == ["functions", "deploy"] and name in c]
    return found


def test_the_dry_run_prints_every_command_and_runs_none(tmp_path: Path) -> None:
    done = dry_run(tmp_path, PROJECT)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "called").exists()
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith(("+ gcloud ", "? gcloud ")) for line in lines)
    cmds = commands(done.stdout)
    for command in cmds:
        assert f"--project={PROJECT}" in command, command
        # No flag lost its value to an empty variable.
        assert not [a for a in command if a.startswith("--") and a.endswith("=")], command
    kinds = [" ".join(c[1:4]) for c in cmds]
    assert kinds.count("iam service-accounts create") == 5
    assert kinds.count("functions deploy --gen2") == 3
    assert "tasks queues create" in kinds and "scheduler jobs create" in kinds


def test_the_commands_agree_on_urls_accounts_and_deadlines(tmp_path: Path) -> None:
    cmds = commands(dry_run(tmp_path, PROJECT).stdout)
    process_job = deploy_of(cmds, "supajobs-process-job")
    webhook = deploy_of(cmds, "supajobs-webhook")
    submit = deploy_of(cmds, "supajobs-submit")
    [scheduler] = [c for c in cmds if c[1:3] == ["scheduler", "jobs"]]
    [queue] = [c for c in cmds if c[1:4] == ["tasks", "queues", "create"]]
    account = "supajobs-{}@demo-project.iam.gserviceaccount.com".format

    # Each function runs as its own account and gets its secrets from Secret Manager.
    assert flags(process_job)["service-account"] == account("process-job")
    assert flags(webhook)["service-account"] == account("webhook")
    assert flags(submit)["service-account"] == account("submit")
    assert flags(process_job)["set-secrets"] == "DATABASE_URL=supajobs-database-url:latest"
    assert flags(webhook)["set-secrets"] == "WEBHOOK_SECRET=supajobs-webhook-secret:latest"
    for command in (process_job, webhook, submit):
        assert "DATABASE_URL" not in env_vars(command)
        assert "WEBHOOK_SECRET" not in env_vars(command)
    assert [flags(c)["entry-point"] for c in (process_job, webhook, submit)] == [
        "process_job",
        "webhook",
        "submit",
    ]

    # process_job is private: Cloud Run checks the ID tokens, the function their claims.
    assert "--no-allow-unauthenticated" in process_job
    assert "--allow-unauthenticated" in webhook and "--allow-unauthenticated" in submit
    worker = env_vars(process_job)
    assert worker["PROCESS_JOB_AUTH"] == "cloud-run-iam"
    assert worker["PROCESS_JOB_AUDIENCE"] == URL
    assert set(worker["PROCESS_JOB_CALLERS"].split(",")) == {account("tasks"), account("sweeper")}
    invokers = [c for c in cmds if c[1:3] == ["functions", "add-invoker-policy-binding"]]
    assert {flags(c)["member"] for c in invokers} == {
        f"serviceAccount:{account('tasks')}",
        f"serviceAccount:{account('sweeper')}",
    }

    # The webhook's tasks and the sweep call process_job at the URL their tokens name.
    handoff = env_vars(webhook)
    assert handoff["PROCESS_JOB_URL"] == URL
    assert handoff["PROCESS_JOB_INVOKER_SERVICE_ACCOUNT"] == account("tasks")
    assert handoff["CLOUD_TASKS_QUEUE"] == (
        "projects/demo-project/locations/europe-west1/queues/supajobs-wakeups"
    )
    sweep = flags(scheduler)
    assert sweep["uri"] == sweep["oidc-token-audience"] == URL
    assert sweep["oidc-service-account-email"] == account("sweeper")

    # One deadline throughout: the function's timeout, the tasks' dispatch deadline, the
    # sweep's attempt deadline, and what the worker plans its drain by.
    deadline = flags(process_job)["timeout"]
    assert deadline == "1800s" == sweep["attempt-deadline"]
    assert handoff["CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS"] == "1800"
    assert worker["PROCESS_JOB_TIMEOUT_SECONDS"] == "1800"
    # Never more calls at once than process_job has instances.
    assert flags(queue)["max-concurrent-dispatches"] == flags(process_job)["max-instances"]
    assert flags(queue)["max-attempts"] and flags(queue)["max-retry-duration"]


def test_an_operator_secret_is_read_by_submit_alone(tmp_path: Path) -> None:
    plain = commands(dry_run(tmp_path, PROJECT).stdout)
    assert flags(deploy_of(plain, "supajobs-submit"))["set-secrets"] == (
        "DATABASE_URL=supajobs-database-url:latest"
    )
    assert not [c for c in plain if "supajobs-secret-key" in " ".join(c)]
    cmds = commands(
        dry_run(tmp_path, PROJECT, env={"OPERATOR_SECRET": "supajobs-secret-key"}).stdout
    )
    assert flags(deploy_of(cmds, "supajobs-submit"))["set-secrets"] == (
        "DATABASE_URL=supajobs-database-url:latest,SUPABASE_SECRET_KEY=supajobs-secret-key:latest"
    )
    readers = [
        flags(c)["member"]
        for c in cmds
        if c[1:3] == ["secrets", "add-iam-policy-binding"] and c[3] == "supajobs-secret-key"
    ]
    assert readers == ["serviceAccount:supajobs-submit@demo-project.iam.gserviceaccount.com"]
    # Its value is never written by the script: the operator adds it.
    assert not [
        c for c in cmds if c[1:3] == ["secrets", "create"] and c[3] == "supajobs-secret-key"
    ]


def test_a_second_run_updates_what_exists(tmp_path: Path) -> None:
    done = dry_run(tmp_path, PROJECT, env={"DRY_RUN_EXISTING": "1"})
    assert done.returncode == 0, done.stderr
    kinds = [" ".join(c[1:4]) for c in commands(done.stdout)]
    assert "tasks queues update" in kinds and "scheduler jobs update" in kinds
    assert not [k for k in kinds if k.endswith("create") or "versions add" in k]


def test_without_a_project_id_it_stops_before_any_command(tmp_path: Path) -> None:
    done = dry_run(tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "usage:" in done.stderr


def test_an_unset_variable_stops_it(tmp_path: Path) -> None:
    typo = tmp_path / "deploy.sh"
    text = SCRIPT.read_text()
    assert '--region="$REGION"' in text
    typo.write_text(text.replace('--region="$REGION"', '--region="$REGOIN"', 1))
    done = dry_run(tmp_path, PROJECT, script=typo)
    assert done.returncode != 0
    assert "REGOIN: unbound variable" in done.stderr
    assert "functions deploy" not in done.stdout


@NEEDS_GCLOUD
def test_gclouds_own_parser_accepts_every_command(tmp_path: Path) -> None:
    printed = (
        dry_run(tmp_path, PROJECT).stdout
        + dry_run(tmp_path, PROJECT, env={"DRY_RUN_EXISTING": "1"}).stdout
        + dry_run(tmp_path, PROJECT, env={"OPERATOR_SECRET": "supajobs-secret-key"}).stdout
    )
    # One of each shape (a command group and its set of flags) is enough.
    shapes: dict[tuple[str, ...], list[str]] = {}
    for line in printed.splitlines():
        command = shlex.split(line[2:])
        shape = (*[a for a in command if not a.startswith("-")][:4], *sorted(flags(command)))
        shapes.setdefault(shape, command)
    config = tmp_path / "gcloud-config"  # no account, no project: nothing can reach Google
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
    }

    def parse(command: list[str]) -> str:
        done = subprocess.run(
            [GCLOUD or "gcloud", *command[1:]],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return done.stderr

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(parse, shapes.values()))
    for command, stderr in zip(shapes.values(), answers, strict=True):
        assert "do not currently have an active account" in stderr, (command, stderr)
