"""Your own tasks, deployed without a fork: the example project (examples/wordcount, a
``myapp`` package of its own) named in deploy/tasks.json is packaged into process_job's zip by
its imports, and the packaged functions run it under the Lambda runtime's CPython with only the
zips and the layer on the path: the worker publishes its kind, the packaged submit accepts a
job of it, and the packaged process_job completes it.

The packaging runs in a copy of the checkout (its deploy/tasks.json names the example), so
the checkout's own configuration and artifacts are left as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import exclusive
from tests.slow.test_lambda_artifacts import (
    BOOTSTRAP,
    ROOT,
    Artifacts,
    _unzip,
    api_event,
    load_event,
    runtime_python,
)
from tests.slow.test_package import _project_files

EXAMPLE = {"path": "examples/wordcount", "modules": ["myapp.tasks"]}
TEXT = "the cat and the hat and the bat"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifacts]:
    copy = tmp_path_factory.mktemp("checkout")
    for name in _project_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    (copy / "deploy" / "tasks.json").write_text(json.dumps(EXAMPLE))
    # The installed osls and the built layer are shared, not rebuilt.
    sys.path.insert(0, str(ROOT / "scripts"))
    import check_serverless_package as packaging

    with exclusive("serverless-package"):  # the checkout's build folders are shared
        packaging.ensure_osls()
        packaging.build_layer()
    tools = Path("deploy") / "serverless" / "node_modules"
    os.symlink(ROOT / tools, copy / tools)
    (copy / "build").mkdir()
    os.symlink(ROOT / "build" / "lambda-layer", copy / "build" / "lambda-layer")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SUPAJOBS_TASKS")}
    regenerated = subprocess.run(
        [sys.executable, "scripts/package_contents.py"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert regenerated.returncode == 0, regenerated.stderr
    # The whole packaging check, in the copy: routes, IAM, and every zip against its closure
    # (process_job's with the example's modules) and importable from the zip and the layer.
    checked = subprocess.run(
        [sys.executable, "scripts/check_serverless_package.py"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    out = copy / ".serverless"
    template = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    tmp = tmp_path_factory.mktemp("lambda-own-tasks")
    (tmp / "empty").mkdir()
    (tmp / "bootstrap.py").write_text(BOOTSTRAP)
    resources = template["Resources"]
    layer_key = resources[packaging.LAYER_ID]["Properties"]["Content"]["S3Key"]
    layer = _unzip(out / layer_key.rsplit("/", 1)[-1], tmp / "opt") / "python"
    by_handler = {
        r["Properties"]["Handler"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    tasks, environments, handlers, sizes = {}, {}, {}, {}
    for function, handler in packaging.HANDLERS.items():
        props = by_handler[handler]
        artifact = out / props["Code"]["S3Key"].rsplit("/", 1)[-1]
        sizes[function] = artifact.stat().st_size / 1024
        tasks[function] = _unzip(artifact, tmp / function)
        environments[function] = dict(props["Environment"]["Variables"])
        handlers[function] = handler
    yield Artifacts(
        tmp, runtime_python(), layer, tasks, handlers, environments, sizes, resources=resources
    )


def test_the_example_is_packaged_with_process_job_only(packaged: Artifacts) -> None:
    zipped = {
        p.relative_to(packaged.tasks["process_job"]).as_posix()
        for p in packaged.tasks["process_job"].rglob("*.py")
    }
    assert {
        "examples/wordcount/myapp/__init__.py",
        "examples/wordcount/myapp/tasks.py",
        "examples/wordcount/myapp/text.py",  # imported by tasks.py: followed
    } <= zipped
    for function in ("submit", "webhook"):
        assert not list(packaged.tasks[function].rglob("myapp")), function
    env = packaged.environments["process_job"]
    assert (env["TASK_MODULES"], env["TASK_PATH"]) == ("myapp.tasks", "examples/wordcount")


def test_the_packaged_functions_run_the_users_task(
    packaged: Artifacts, embedded_db_url: str
) -> None:
    env = {"DATABASE_URL": embedded_db_url, "RETRY_BASE_DELAY_SECONDS": "0"}
    # A cold start of the worker (the sweeper's schedule) publishes the example's kind.
    packaged.run("process_job", [load_event("scheduled_event")], env, remaining_ms=60_000)
    submit_env = {"DATABASE_URL": embedded_db_url}
    kinds, created = packaged.run(
        "submit",
        [
            api_event("GET /kinds"),
            api_event(
                "POST /jobs",
                body=json.dumps(
                    {
                        "task_name": "count",
                        "kind": "word_count",
                        "payload": {"text": TEXT, "top": 2},
                    }
                ),
            ),
        ],
        submit_env,
    )["responses"]
    listed = {k["kind"]: k for k in json.loads(kinds["body"])["kinds"]}
    assert listed["word_count"]["description"].startswith("Counts the words")
    assert created["statusCode"] == 202, created
    job_id = json.loads(created["body"])["job_id"]
    with psycopg.connect(embedded_db_url) as conn:
        msg = conn.execute(
            "select msg_id from pgmq.q_work_queue where message ->> 'job_id' = %s", (job_id,)
        ).fetchone()
    assert msg is not None
    event = {"msg_id": msg[0], "job_id": job_id, "task_name": "count"}
    report = packaged.run("process_job", [event], env, remaining_ms=120_000)
    assert any("examples/wordcount/myapp/text.py" in f for f in report["files"])
    with psycopg.connect(embedded_db_url) as conn:
        row = conn.execute(
            "select status, result from job_results where job_id = %s", (job_id,)
        ).fetchone()
    assert row is not None and row[0] == "completed", row
    assert json.loads(row[1]) == {"words": 8, "top": [["the", 3], ["and", 2]]}
