"""The deployable artifacts themselves, run as Lambda would run them: the three zips and the
layer that ``osls package`` writes (offline, as scripts/check_serverless_package.py does) are
unzipped, and each handler runs in the runtime's CPython (build_lambda_layer.PYTHON_VERSION,
from pyenv) started with ``-I -S`` and a path holding only the function's zip and the layer:
no checkout, no site-packages. The database is a real Postgres.

What stands in for Lambda: a small bootstrap (written outside the checkout) that does what the
runtime interface client does (put the task and the layer on the path, import the handler,
call it with the event and a context) and reports what it got. Secrets come as plain
environment values here (the SSM path needs boto3, which Lambda's runtime has and this path
deliberately does not); tests/unit/test_secrets.py covers reading them from SSM.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.first_token import jwks_server
from devstack.auth.signing import SigningKeys, generate_es256_pem
from functions.core.signatures import parse_secret, sign
from tests.conftest import exclusive
from tests.http_recorder import recording_server

ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).resolve().parents[1] / "events"
sys.path.insert(0, str(ROOT / "scripts"))
import build_lambda_layer  # noqa: E402
import check_serverless_package as packaging  # noqa: E402

SECRET = "whsec_YXJ0aWZhY3QtdGVzdC13ZWJob29rLXNlY3JldC0zMmI="
FORGED_SECRET = "whsec_Zm9yZ2VkLWFydGlmYWN0LXdlYmhvb2stc2VjcmV0LTMy"


def webhook_headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers that authorise a webhook call (the one place tests build
    them), signed now as the database's trigger signs."""
    timestamp = int(time.time())
    signature = sign([parse_secret(secret)], msg_id, timestamp, body.encode())
    return {"webhook-timestamp": str(timestamp), "webhook-signature": signature}


def runtime_python() -> Path:
    """The CPython of the Lambda runtime's minor version that built the layer's bytecode."""
    found = build_lambda_layer.runtime_python()
    assert found, f"no CPython {build_lambda_layer.PYTHON_VERSION} here (pyenv or PATH)"
    return found


BOOTSTRAP = r"""
import importlib, json, sys, time

task, layer, handler = sys.argv[1:4]
sys.path[:0] = [task, layer]  # Lambda: /var/task, then /opt/python


class Context:
    def __init__(self, remaining_ms):
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)


request = json.load(sys.stdin)
for name in request.get("imports", []):
    importlib.import_module(name)
responses = []
if handler != "-":
    module_name, function = handler.rsplit(".", 1)
    entry = getattr(importlib.import_module(module_name.replace("/", ".")), function)
    for event in request["events"]:
        responses.append(entry(event, Context(request.get("remaining_ms", 900000))))
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
pq = sys.modules.get("psycopg.pq")
json.dump(
    {
        "version": sys.version,
        "path": sys.path,
        "files": files,
        "responses": responses,
        "psycopg_impl": getattr(pq, "__impl__", None),
    },
    sys.stdout,
)
"""


@dataclass(frozen=True)
class Artifacts:
    tmp: Path
    python: Path
    layer: Path
    tasks: dict[str, Path]
    handlers: dict[str, str]
    environments: dict[str, dict[str, str]]
    sizes_kib: dict[str, float]
    resources: dict[str, Any]  # the packaged template's, read while the packaging was locked

    def run(
        self, function: str, events: list[Any], env: dict[str, str], **request: Any
    ) -> dict[str, Any]:
        """Run ``function``'s handler on each event in one fresh isolated interpreter."""
        task = self.tasks[function] if function != "layer" else self.tmp / "empty"
        handler = self.handlers.get(function, "-")
        variables = {**self.environments.get(function, {}), **env}
        # Secrets arrive as values here: drop the deployed parameter names (no boto3 here).
        variables = {k: v for k, v in variables.items() if not k.endswith("_SSM_PARAMETER")}
        done = subprocess.run(
            [*self._interpreter(), str(task), str(self.layer), handler],
            input=json.dumps({"events": events, **request}),
            capture_output=True,
            text=True,
            cwd=self.tmp / "empty",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **variables},
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        report: dict[str, Any] = json.loads(done.stdout)
        self._assert_isolated(report, task)
        return report

    def _interpreter(self) -> list[str]:
        return [str(self.python), "-I", "-S", str(self.tmp / "bootstrap.py")]

    def _assert_isolated(self, report: dict[str, Any], task: Path) -> None:
        stdlib = Path(
            subprocess.run(
                [
                    str(self.python),
                    "-I",
                    "-S",
                    "-c",
                    "import sysconfig;print(sysconfig.get_paths()['stdlib'])",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        allowed = (str(task) + os.sep, str(self.layer) + os.sep, str(stdlib) + os.sep)
        bootstrap = str(self.tmp / "bootstrap.py")
        strays = [f for f in report["files"] if not f.startswith(allowed) and f != bootstrap]
        assert not strays, f"imported from outside the zip, the layer and the stdlib: {strays}"
        assert not [p for p in report["path"] if "site-packages" in p], report["path"]
        assert str(ROOT) not in json.dumps(report["path"])


def _unzip(archive: Path, target: Path) -> Path:
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
    return target


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifacts]:
    """The packages and layer exactly as deployed, unzipped outside the checkout."""
    with exclusive("serverless-package"):  # the checkout's build folders are shared
        packaging.ensure_osls()
        packaging.build_layer()
        packaging.package()
        template = json.loads(packaging.TEMPLATE.read_text())["Resources"]
        tmp = tmp_path_factory.mktemp("lambda")
        (tmp / "empty").mkdir()
        (tmp / "bootstrap.py").write_text(BOOTSTRAP)
        layer_key = template[packaging.LAYER_ID]["Properties"]["Content"]["S3Key"]
        layer_zip = packaging.OUT_DIR / layer_key.rsplit("/", 1)[-1]
        sizes = {"layer": layer_zip.stat().st_size / 1024}
        layer = _unzip(layer_zip, tmp / "opt") / "python"
        by_handler = {
            r["Properties"]["Handler"]: r["Properties"]
            for r in template.values()
            if r["Type"] == "AWS::Lambda::Function"
        }
        tasks, environments, handlers = {}, {}, {}
        for function, handler in packaging.HANDLERS.items():
            props = by_handler[handler]
            artifact = packaging.OUT_DIR / props["Code"]["S3Key"].rsplit("/", 1)[-1]
            sizes[function] = artifact.stat().st_size / 1024
            tasks[function] = _unzip(artifact, tmp / function)
            environments[function] = dict(props["Environment"]["Variables"])
            handlers[function] = handler
            assert props["Runtime"] == f"python{build_lambda_layer.PYTHON_VERSION}"
    yield Artifacts(
        tmp, runtime_python(), layer, tasks, handlers, environments, sizes, resources=template
    )


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def test_no_zip_holds_a_testing_module(artifacts: Artifacts) -> None:
    """The in-memory twin, the test clock and the rest of tests/ are never deployed."""
    for function, root in artifacts.tasks.items():
        files = [p.relative_to(root) for p in root.rglob("*.py")]
        testing = [
            f.as_posix()
            for f in files
            if f.parts[0] == "tests"
            or "inmemory" in f.parts
            or f.name in ("testing.py", "fakes.py")
        ]
        assert files and not testing, f"{function}'s zip holds testing modules: {testing}"


def test_every_compiled_module_in_the_layer_imports_under_the_runtime(
    artifacts: Artifacts,
) -> None:
    modules = []
    for path in sorted(artifacts.layer.rglob("*.so")):
        relative = path.relative_to(artifacts.layer).as_posix()
        stem = relative.split(".", 1)[0]  # drop .cpython-313-x86_64-linux-gnu.so / .abi3.so
        modules.append(stem.replace("/", "."))
    assert modules, "the layer holds no compiled module at all"
    report = artifacts.run("layer", [], {}, imports=["psycopg", "psycopg_pool", *modules])
    loaded = [
        f for f in report["files"] if f.endswith(".so") and f.startswith(str(artifacts.layer))
    ]
    # Every compiled file was imported: one built for another CPython would not even be found
    # (and psycopg alone would still import, falling back to this machine's libpq).
    assert len(loaded) == len(modules), (modules, loaded)
    print(f"\nruntime {report['version'].split()[0]}: {len(modules)} compiled modules import")


def test_every_module_in_the_layer_ships_bytecode_the_runtime_takes(
    artifacts: Artifacts,
) -> None:
    """Lambda mounts the layer read-only: a module without bytecode of the runtime's own magic
    is compiled again at every cold start. Unchecked hash-based files (flags 0b01, PEP 552)
    are taken without reading the source."""
    runtime = json.loads(
        subprocess.run(
            [
                str(artifacts.python),
                "-I",
                "-c",
                "import importlib.util, json, sys; print(json.dumps("
                "[importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag]))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    magic, tag = bytes.fromhex(runtime[0]), runtime[1]
    sources = sorted(artifacts.layer.rglob("*.py"))
    assert len(sources) > 100, "the layer holds hardly any module"
    missing, stale = [], []
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not cached.is_file():
            missing.append(source.relative_to(artifacts.layer).as_posix())
            continue
        header = cached.read_bytes()[:8]
        if header[:4] != magic or int.from_bytes(header[4:8], "little") != 0b01:
            stale.append(source.relative_to(artifacts.layer).as_posix())
    assert not missing and not stale, {"no bytecode": missing[:10], "not taken": stale[:10]}


def test_submit_answers_202_and_stores_the_job(artifacts: Artifacts, embedded_db_url: str) -> None:
    get = load_event("http_get_job")
    report = artifacts.run(
        "submit", [load_event("http_post_jobs")], {"DATABASE_URL": embedded_db_url}
    )
    (created,) = report["responses"]
    assert created["statusCode"] == 202, created
    job = json.loads(created["body"])
    get["rawPath"] = get["requestContext"]["http"]["path"] = f"/jobs/{job['job_id']}"
    get["pathParameters"] = {"job_id": job["job_id"]}
    (fetched,) = artifacts.run("submit", [get], {"DATABASE_URL": embedded_db_url})["responses"]
    assert fetched["statusCode"] == 200
    assert json.loads(fetched["body"])["job_id"] == job["job_id"]
    with psycopg.connect(embedded_db_url) as conn:
        row = conn.execute(
            "select status from job_results where job_id = %s", (job["job_id"],)
        ).fetchone()
    assert row == ("pending",)
    # Not the pure-Python fallback, which needs a system libpq that Lambda does not have.
    assert report["psycopg_impl"] == "binary"
    print(
        f"\n{report['version'].split()[0]} submit ({artifacts.sizes_kib['submit']:.1f} KiB"
        f" + layer {artifacts.sizes_kib['layer']:.1f} KiB): {created['statusCode']}"
        f" {created['body']}"
    )


def _webhook_event(secret: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("http_post_webhook"))
    event["headers"].pop("authorization", None)
    event["headers"].update(webhook_headers(secret, event["headers"]["webhook-id"], event["body"]))
    return event


def test_webhook_accepts_an_authorised_call_and_rejects_a_forged_one(
    artifacts: Artifacts,
) -> None:
    with recording_server() as process_job:
        # An HTTP invoker in place of Lambda's Invoke, which needs the runtime's boto3.
        env = {
            "WEBHOOK_SECRET": SECRET,
            "PROCESS_JOB_URL": process_job.url,
            "PROCESS_JOB_FUNCTION_NAME": "",
        }
        report = artifacts.run(
            "webhook", [_webhook_event(SECRET), _webhook_event(FORGED_SECRET)], env
        )
        accepted, forged = report["responses"]
        # The interpreter has exited, so its background invocation has finished.
        calls = process_job.snapshot()
    assert accepted["statusCode"] == 202, accepted
    assert forged["statusCode"] == 401, forged
    assert json.loads(forged["body"])["error"]["code"] == "unauthorized"
    woken = json.loads(load_event("http_post_webhook")["body"])
    assert [c.json() for c in calls] == [woken]  # the wake-up's id, passed on as it came
    assert not any("psycopg" in f for f in report["files"]), "the webhook loaded the driver"
    print(
        f"\n{report['version'].split()[0]} webhook ({artifacts.sizes_kib['webhook']:.1f} KiB):"
        f" authorised {accepted['statusCode']} {accepted['body']},"
        f" forged {forged['statusCode']} {forged['body']}"
    )


def test_process_job_completes_the_job(artifacts: Artifacts, embedded_db_url: str) -> None:
    with psycopg.connect(embedded_db_url, autocommit=True) as conn:
        row = conn.execute("""select submit_job('artifact', '{}', kind => 'echo')""").fetchone()
        assert row is not None
        job_id = str(row[0])
        msg = conn.execute(
            "select msg_id from pgmq.q_work_queue where message ->> 'job_id' = %s", (job_id,)
        ).fetchone()
    assert msg is not None
    event: dict[str, Any] = {}  # a direct invocation, as a schedule's: it drains what is visible
    report = artifacts.run(
        "process_job",
        [event],
        {"DATABASE_URL": embedded_db_url, "RETRY_BASE_DELAY_SECONDS": "0"},
        remaining_ms=120_000,
    )
    (answer,) = report["responses"]
    assert answer == {
        "completed": 1,
        "failed": 0,
        "retried": 0,
        "skipped": 0,
        "handed_back": 0,
        "cancelled": 0,
    }
    assert report["psycopg_impl"] == "binary"
    with psycopg.connect(embedded_db_url) as conn:
        status = conn.execute(
            "select status from job_results where job_id = %s", (job_id,)
        ).fetchone()
    assert status == ("completed",)
    print(
        f"\n{report['version'].split()[0]} process_job"
        f" ({artifacts.sizes_kib['process_job']:.1f} KiB + layer): {answer}"
    )


def api_event(
    route_key: str, job_id: str = "", body: str | None = None, schedule_id: str = ""
) -> dict[str, Any]:
    """An API Gateway v2 event for ``route_key`` as the HTTP API would send it to the function
    (the recorded GET event, with the route, method, path and path parameters replaced)."""
    event = copy.deepcopy(load_event("http_get_job"))
    method, template = route_key.split(" ", 1)
    ids = {"job_id": job_id, "schedule_id": schedule_id}
    path = template
    parameters: dict[str, str] = {}
    for name, value in ids.items():
        if "{" + name + "}" in template:
            path = path.replace("{" + name + "}", value)
            parameters[name] = value
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["pathParameters"] = parameters or None
    if method == "OPTIONS":
        event["headers"]["access-control-request-method"] = "POST"
    if body is not None:
        event["body"] = body
        event["headers"]["content-type"] = "application/json"
    return event


def test_every_route_of_the_template_works_through_the_packaged_submit(
    artifacts: Artifacts, embedded_db_url: str
) -> None:
    """Each route key the packaged HTTP API sends to submit, in one instance: a job made, read,
    listed, cancelled and retried, the kinds listed, a schedule made, listed, paused, resumed
    and deleted, and every preflight answered."""
    keys = sorted(
        r["Properties"]["RouteKey"]
        for r in artifacts.resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
        and r["Properties"]["RouteKey"] != "POST /webhook"
    )
    assert {"POST /jobs/{job_id}/cancel", "POST /jobs/{job_id}/retry"} <= set(keys)
    env = {"DATABASE_URL": embedded_db_url}
    body = json.dumps({"task_name": "routes", "kind": "noop"})
    (created,) = artifacts.run("submit", [api_event("POST /jobs", body=body)], env)["responses"]
    assert created["statusCode"] == 202, created
    job_id = json.loads(created["body"])["job_id"]
    schedule = json.dumps({"name": "routes", "cron": "0 3 * * *", "task_name": "routes"})
    (made,) = artifacts.run("submit", [api_event("POST /schedules", body=schedule)], env)[
        "responses"
    ]
    assert made["statusCode"] == 201, made
    schedule_id = json.loads(made["body"])["schedule_id"]

    def on_schedule(key: str) -> dict[str, Any]:
        return api_event(key, schedule_id=schedule_id)

    other = json.dumps({"name": "routes-2", "cron": "*/5 * * * *", "task_name": "routes"})
    by_key = {
        "POST /jobs": (api_event("POST /jobs", body=body), 202),
        "GET /jobs": (api_event("GET /jobs"), 200),
        "GET /jobs/{job_id}": (api_event("GET /jobs/{job_id}", job_id), 200),
        # Cancelled while pending (nothing runs here), then retried: a new run, pending.
        "POST /jobs/{job_id}/cancel": (api_event("POST /jobs/{job_id}/cancel", job_id), 200),
        "POST /jobs/{job_id}/retry": (api_event("POST /jobs/{job_id}/retry", job_id), 202),
        "GET /kinds": (api_event("GET /kinds"), 200),
        # The operators' routes: the metrics refused without an operator key (routed, and
        # checked before the database), the failures listed, a bulk retry of none.
        "GET /stats": (api_event("GET /stats"), 401),
        "GET /failures": (api_event("GET /failures"), 200),
        "POST /jobs/retry": (api_event("POST /jobs/retry", body='{"kind": "noop"}'), 200),
        "POST /schedules": (api_event("POST /schedules", body=other), 201),
        "GET /schedules": (api_event("GET /schedules"), 200),
        "POST /schedules/{schedule_id}/pause": (
            on_schedule("POST /schedules/{schedule_id}/pause"),
            200,
        ),
        "POST /schedules/{schedule_id}/resume": (
            on_schedule("POST /schedules/{schedule_id}/resume"),
            200,
        ),
        "DELETE /schedules/{schedule_id}": (on_schedule("DELETE /schedules/{schedule_id}"), 200),
    }
    for key in keys:
        if key.startswith("OPTIONS "):
            by_key[key] = (api_event(key, job_id, schedule_id=schedule_id), 204)
    assert sorted(by_key) == keys, "a route of the template has no request in this test"
    order = list(by_key)
    responses = artifacts.run("submit", [by_key[k][0] for k in order], env)["responses"]
    answers = {key: response for key, response in zip(order, responses, strict=True)}
    for key, response in answers.items():
        assert response["statusCode"] == by_key[key][1], (key, response)
        assert response["headers"]["Access-Control-Allow-Origin"] == "*", key
    assert json.loads(answers["POST /jobs/{job_id}/cancel"]["body"])["status"] == "cancelled"
    retried = json.loads(answers["POST /jobs/{job_id}/retry"]["body"])
    assert (retried["status"], retried["run"]) == ("pending", 2)
    listed = [j["job_id"] for j in json.loads(answers["GET /jobs"]["body"])["jobs"]]
    assert job_id in listed
    kinds = [k["kind"] for k in json.loads(answers["GET /kinds"]["body"])["kinds"]]
    assert "noop" in kinds
    names = [s["name"] for s in json.loads(answers["GET /schedules"]["body"])["schedules"]]
    assert {"routes", "routes-2"} <= set(names)
    assert json.loads(answers["DELETE /schedules/{schedule_id}"]["body"])["deleted"] is True
    with psycopg.connect(embedded_db_url) as conn:
        row = conn.execute(
            "select status, run from job_results where job_id = %s", (job_id,)
        ).fetchone()
    assert row == ("pending", 2)


def test_an_es256_users_job_is_theirs_through_the_packaged_submit(
    artifacts: Artifacts, embedded_db_url: str
) -> None:
    """The layer's cryptography under the runtime's CPython: the packaged submit fetches the
    project's JWKS (a loopback server here) and verifies an ES256 token by its kid."""
    keys = SigningKeys.generate("artifact-test-legacy-secret-of-32-chars!")
    user = str(uuid.uuid4())
    now = int(time.time())
    token = keys.sign(
        {"sub": user, "aud": "authenticated", "role": "authenticated", "exp": now + 600}
    )
    post = api_event("POST /jobs", body=json.dumps({"task_name": "mine", "kind": "noop"}))
    post["headers"]["authorization"] = f"Bearer {token}"
    # The project's kid, another key's signature.
    impostor = SigningKeys(keys.jwt_secret, generate_es256_pem(), keys.kid)
    forged = copy.deepcopy(post)
    forged["headers"]["authorization"] = "Bearer " + impostor.sign(
        {"sub": user, "aud": "authenticated", "role": "authenticated", "exp": now + 600}
    )
    with jwks_server(keys.jwks()) as jwks_url:
        supabase_url = jwks_url.removesuffix("/auth/v1/.well-known/jwks.json")
        env = {"DATABASE_URL": embedded_db_url, "SUPABASE_URL": supabase_url}
        created, refused = artifacts.run("submit", [post, forged], env)["responses"]
    assert created["statusCode"] == 202, created
    assert refused["statusCode"] == 401, refused
    with psycopg.connect(embedded_db_url) as conn:
        owner = conn.execute(
            "select owner_id::text from job_results where job_id = %s",
            (json.loads(created["body"])["job_id"],),
        ).fetchone()
    assert owner == (user,)
