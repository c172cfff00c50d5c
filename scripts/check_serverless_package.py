"""Package serverless.yml with osls, offline and without AWS credentials, and check the result.

    python scripts/check_serverless_package.py

Installs osls from deploy/serverless/package-lock.json when it is missing or stale, builds the
dependency layer (scripts/build_lambda_layer.py), runs ``osls package`` into .serverless/ with
sentinel secret values in its environment, then checks the CloudFormation template and every
zip: no sentinel anywhere in the output (secrets are read at run time, never deployed), each
zip holding exactly its handler's import closure (scripts/package_contents.py). Prints each
artifact's size; exits 1 with every miss listed.
"""

from __future__ import annotations

import json
import modulefinder
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import build_lambda_layer
import http_routes
import iam_check
import package_contents

routes = http_routes.routes  # functions/http/routes.py, found from the checkout

ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = ROOT / "deploy" / "serverless"
OSLS = TOOLS_DIR / "node_modules" / ".bin" / "osls"
OUT_DIR = ROOT / ".serverless"
TEMPLATE = OUT_DIR / "cloudformation-template-update-stack.json"
STAGE = "ci"
REGION = "eu-central-1"
RUNTIME = f"python{build_lambda_layer.PYTHON_VERSION}"
ABI = "cpython-" + build_lambda_layer.PYTHON_VERSION.replace(".", "")
# Values a careless template would pick up from the packager's environment: none may appear in
# anything osls writes.
SENTINEL_ENV = {
    "DATABASE_URL": "postgresql://sentinel:db-password-7f3a9c@db.invalid:6543/postgres",
    "WEBHOOK_SECRET": "whsec_c2VudGluZWwtd2ViaG9vay1zZWNyZXQtN2YzYTlj",
}
# Each function's secrets, as the name of the SSM parameter holding them.
JWT_PARAMETER = f"/supajobs/{STAGE}/jwt-secret"
SECRET_KEY_PARAMETER = f"/supajobs/{STAGE}/secret-key"
SECRET_PARAMETERS = {
    "submit": {
        "DATABASE_URL_SSM_PARAMETER": f"/supajobs/{STAGE}/database-url",
        # Packaged with the optional legacy JWT secret named, so its grant is checked too.
        "SUPABASE_JWT_SECRET_SSM_PARAMETER": JWT_PARAMETER,
        # And the operators' secret key, likewise.
        "SUPABASE_SECRET_KEY_SSM_PARAMETER": SECRET_KEY_PARAMETER,
    },
    "webhook": {"WEBHOOK_SECRET_SSM_PARAMETER": f"/supajobs/{STAGE}/webhook-secret"},
    "process_job": {"DATABASE_URL_SSM_PARAMETER": f"/supajobs/{STAGE}/database-url"},
}
RESERVED = {"submit": True, "webhook": False, "process_job": True}
# Anything that could hand osls credentials is removed, so packaging proves it needs none.
CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)

HANDLERS = {
    "submit": "functions/submit.handler",
    "webhook": "functions/webhook.handler",
    "process_job": "functions/process_job.handler",
}
# The HTTP API must serve exactly the routes the functions dispatch on, each to its function.
ROUTES = {key: function for function in routes.BY_FUNCTION for key in routes.route_keys(function)}
LAYER_ID = "PythonDepsLambdaLayer"
USES_LAYER = {"submit": True, "webhook": False, "process_job": True}
# Imported by the functions but provided elsewhere: boto3 by the Lambda runtime, flask only
# under TYPE_CHECKING (functions-framework's type, never imported on Lambda), opentelemetry
# only when OTEL_* variables ask for traces, by the OpenTelemetry Lambda layer that then runs
# the function (functions/tracing.py, docs/operations.md).
PROVIDED_BY_RUNTIME = {"boto3", "botocore", "flask", "opentelemetry"}
LAYER_FILES = (
    "python/psycopg/__init__.py",
    "python/psycopg_pool/__init__.py",
    "python/jwt/__init__.py",
    "python/cryptography/__init__.py",  # PyJWT[crypto]: ES256/RS256 user tokens
)
LAYER_BINARY = re.compile(rf"^python/psycopg_binary/.*\.{ABI}-x86_64-linux-gnu\.so$")
FORBIDDEN_IN_ZIP = re.compile(r"(^|/)(__pycache__|tests?)(/|$)|\.pyc$|(^|/)test_[^/]*\.py$")


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.failures.append(message)
        return ok


def ensure_osls() -> None:
    """``npm ci`` from the committed lockfile when osls is absent or older than the lockfile."""
    stamp = TOOLS_DIR / "node_modules" / ".package-lock.json"
    lock = TOOLS_DIR / "package-lock.json"
    if OSLS.exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not on PATH: it is needed to install osls (deploy/serverless)")
    print("installing osls: npm ci in deploy/serverless")
    # osls needs none of its dependencies' install scripts (esbuild ships its binary as an
    # optional package), so none run.
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=TOOLS_DIR,
        check=True,
    )


def build_layer() -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_lambda_layer.py")], check=True)


def package() -> float:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    env.update(SENTINEL_ENV)
    env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",  # fail at once rather than probe for a role
            "NODE_NO_WARNINGS": "1",  # the AWS SDK's notice about future Node versions
        }
    )
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    started = time.monotonic()
    result = subprocess.run(
        [
            str(OSLS),
            "package",
            "--stage",
            STAGE,
            "--region",
            REGION,
            f"--param=jwtSecretParameter={JWT_PARAMETER}",
            f"--param=secretKeyParameter={SECRET_KEY_PARAMETER}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    took = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"osls package failed (exit {result.returncode}):\n{result.stdout}")
    return took


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in resources.items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_functions(resources: dict[str, Any], report: Report) -> dict[str, str]:
    """The logical id of each function, found by its handler."""
    lambdas = of_type(resources, "AWS::Lambda::Function")
    found = {props.get("Handler"): name for name, props in lambdas.items()}
    ids: dict[str, str] = {}
    for function, handler in HANDLERS.items():
        if report.check(handler in found, f"no Lambda function with handler {handler}"):
            ids[function] = found[handler]
    handlers = sorted(map(str, found))
    report.check(len(found) == len(HANDLERS), f"expected {len(HANDLERS)} functions: {handlers}")
    for function, logical_id in ids.items():
        props = resources[logical_id]["Properties"]
        report.check(props.get("Runtime") == RUNTIME, f"{function}: runtime is not {RUNTIME}")
        has_layer = {"Ref": LAYER_ID} in props.get("Layers", [])
        report.check(
            has_layer == USES_LAYER[function],
            f"{function}: {'has' if has_layer else 'lacks'} the dependency layer",
        )
        variables = props.get("Environment", {}).get("Variables", {})
        for name, parameter in SECRET_PARAMETERS[function].items():
            report.check(
                variables.get(name) == parameter,
                f"{function}: {name} is {variables.get(name)!r}, not {parameter!r}",
            )
        plain = sorted(set(variables) & set(SENTINEL_ENV))
        report.check(not plain, f"{function}: secrets as plain variables: {plain}")
        reserved = props.get("ReservedConcurrentExecutions")
        report.check(
            (isinstance(reserved, int) and reserved > 0) == RESERVED[function],
            f"{function}: reserved concurrency is {reserved!r}",
        )
    if "process_job" in ids:
        pj = resources[ids["process_job"]]["Properties"]
        report.check(pj.get("Timeout") == 900, "process_job: the timeout is not 900 s")
        if "webhook" in ids:
            webhook_env = resources[ids["webhook"]]["Properties"]["Environment"]["Variables"]
            report.check(
                webhook_env.get("PROCESS_JOB_FUNCTION_NAME") == pj.get("FunctionName"),
                "webhook: PROCESS_JOB_FUNCTION_NAME is not process_job's function name",
            )
    return ids


def check_async_and_schedule(resources: dict[str, Any], pj: str, report: Report) -> None:
    configs = [
        c
        for c in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
        if c.get("FunctionName") == {"Ref": pj}
    ]
    if report.check(len(configs) == 1, "process_job has no EventInvokeConfig (async retries)"):
        report.check(
            configs[0].get("MaximumRetryAttempts") == 2,
            "process_job: MaximumRetryAttempts is not 2",
        )
        failure = configs[0].get("DestinationConfig", {}).get("OnFailure", {})
        queue = failure.get("Destination", {}).get("Fn::GetAtt", [""])[0]
        report.check(
            resources.get(queue, {}).get("Type") == "AWS::SQS::Queue",
            f"process_job: its failed async events go to {failure!r}, not an SQS queue",
        )
        age = configs[0].get("MaximumEventAgeInSeconds")
        report.check(
            isinstance(age, int) and 60 <= age <= 21600,
            f"process_job: MaximumEventAgeInSeconds is {age!r}",
        )
    target = {"Fn::GetAtt": [pj, "Arn"]}
    rules = [
        name
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
        if rule.get("ScheduleExpression") == "rate(1 minute)"
        and rule.get("State", "ENABLED") == "ENABLED"
        and any(t.get("Arn") == target for t in rule.get("Targets", []))
    ]
    if report.check(len(rules) == 1, "no enabled rate(1 minute) schedule targets process_job"):
        report.check(
            any(
                p.get("FunctionName") == target
                and p.get("Principal") == "events.amazonaws.com"
                and p.get("SourceArn") == {"Fn::GetAtt": [rules[0], "Arn"]}
                for p in of_type(resources, "AWS::Lambda::Permission").values()
            ),
            "EventBridge may not invoke process_job (no Lambda permission for the rule)",
        )


def check_iam(template: dict[str, Any], report: Report) -> None:
    """One role per function granting exactly what the function's definition needs."""
    for problem in iam_check.problems(template):
        report.check(False, problem)


def check_throttling(resources: dict[str, Any], report: Report) -> None:
    stages = of_type(resources, "AWS::ApiGatewayV2::Stage")
    for name, stage in stages.items():
        settings = stage.get("DefaultRouteSettings", {})
        for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            value = settings.get(key)
            report.check(
                isinstance(value, int) and value > 0, f"{name}: {key} is {value!r}, not set"
            )
    report.check(len(stages) == 1, f"expected one HTTP API stage, found {sorted(stages)}")


def check_no_secret_values(report: Report, extracted: Path) -> None:
    """No sentinel secret from the packager's environment in anything osls wrote."""
    files = [p for p in OUT_DIR.rglob("*") if p.is_file() and p.suffix != ".zip"]
    files += [p for p in extracted.rglob("*") if p.is_file()]
    report.check(any(p.name == "serverless-state.json" for p in files), "no serverless-state.json")
    for path in files:
        data = path.read_bytes()
        for name, value in SENTINEL_ENV.items():
            report.check(value.encode() not in data, f"{path.name}: holds the value of {name}")


def check_routes(resources: dict[str, Any], ids: dict[str, str], report: Report) -> None:
    integrations = of_type(resources, "AWS::ApiGatewayV2::Integration")
    function_of = {logical: name for name, logical in ids.items()}
    routes: dict[str, str | None] = {}
    for route in of_type(resources, "AWS::ApiGatewayV2::Route").values():
        target = route.get("Target", {}).get("Fn::Join", ["", []])[1]
        integration = integrations.get(target[-1].get("Ref", "")) if target else None
        function = None
        if integration is not None:
            report.check(
                integration.get("PayloadFormatVersion") == "2.0",
                f"{route['RouteKey']}: payload format is not 2.0",
            )
            uri = integration.get("IntegrationUri", {}).get("Fn::GetAtt", [None])[0]
            function = function_of.get(uri)
        routes[route["RouteKey"]] = function
    report.check(routes == ROUTES, f"HTTP API routes are {routes}, expected {ROUTES}")


def _missing_imports(
    roots: list[Path], module: str, layer: Path | None, ours: tuple[str, ...]
) -> list[str]:
    """Imports the zip (and layer) cannot satisfy, followed from the handler module through
    every function body (lazy imports included)."""
    path = [str(r) for r in roots] + ([str(layer)] if layer is not None else [])
    finder = modulefinder.ModuleFinder(path=path)
    finder.import_hook(module)
    # "maybe" names are `from package import name` where name may be an attribute.
    missing_modules, _maybe = finder.any_missing_maybe()
    missing = []
    for name in missing_modules:
        if not any(c.startswith(ours) for c in finder.badmodules[name]):
            continue  # an optional import inside a third-party package
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in PROVIDED_BY_RUNTIME:
            continue
        missing.append(name)
    return sorted(missing)


def check_zips(resources: dict[str, Any], ids: dict[str, str], report: Report, tmp: Path) -> None:
    layer_dir: Path | None = None
    tasks = package_contents.Tasks.load()
    closures = package_contents.contents(tasks)
    layer = resources.get(LAYER_ID, {}).get("Properties", {})
    layer_zip = OUT_DIR / str(layer.get("Content", {}).get("S3Key", "?")).rsplit("/", 1)[-1]
    report.check(
        layer.get("CompatibleRuntimes") == [RUNTIME],
        f"layer: compatible runtimes {layer.get('CompatibleRuntimes')}, not [{RUNTIME}]",
    )
    if report.check(layer_zip.is_file(), f"no layer artifact for {LAYER_ID}"):
        with zipfile.ZipFile(layer_zip) as archive:
            names = archive.namelist()
            archive.extractall(tmp / "layer")
        layer_dir = tmp / "layer" / "python"
        for wanted in LAYER_FILES:
            report.check(wanted in names, f"layer: {wanted} missing")
        report.check(
            any(LAYER_BINARY.match(n) for n in names),
            f"layer: no psycopg_binary extension for {ABI} on x86_64",
        )
        print(f"  {'layer (pythonDeps)':<20} {layer_zip.stat().st_size / 1024:10.1f} KiB")
    for function, logical_id in ids.items():
        key = resources[logical_id]["Properties"]["Code"]["S3Key"]
        artifact = OUT_DIR / key.rsplit("/", 1)[-1]
        if not report.check(artifact.is_file(), f"{function}: no artifact {artifact.name}"):
            continue
        print(f"  {function:<20} {artifact.stat().st_size / 1024:10.1f} KiB")
        target = tmp / function
        with zipfile.ZipFile(artifact) as archive:
            names = archive.namelist()
            archive.extractall(target)
        # Our package, and in process_job's the user's own task folder (deploy/tasks.json).
        theirs = function == "process_job" and bool(tasks.path)
        allowed = ("functions/", *([f"{tasks.path}/"] if theirs else []))
        strays = [n for n in names if FORBIDDEN_IN_ZIP.search(n) or not n.startswith(allowed)]
        report.check(not strays, f"{function}: unwanted files in the zip: {strays}")
        files = sorted(n for n in names if not n.endswith("/"))
        closure = [n for n in closures[function] if not n.startswith("!")]
        report.check(
            files == closure,
            f"{function}: the zip holds {sorted(set(files) - set(closure))} beyond its"
            f" import closure and lacks {sorted(set(closure) - set(files))}",
        )
        module = HANDLERS[function].rsplit(".", 1)[0].replace("/", ".")
        modules = [module, *(tasks.modules if function == "process_job" else ())]
        roots = [target, *([target / tasks.path] if function == "process_job" else [])]
        layer_path = layer_dir if USES_LAYER[function] else None
        ours = ("functions", *tasks.packages())
        missing = sorted(
            {name for m in modules for name in _missing_imports(roots, m, layer_path, ours)}
        )
        report.check(not missing, f"{function}: the zip cannot import {missing}")


def main() -> int:
    ensure_osls()
    build_layer()
    took = package()
    print(f"osls package: {took:.1f} s, no AWS credentials")
    template = json.loads(TEMPLATE.read_text())
    resources: dict[str, Any] = template["Resources"]
    report = Report()
    ids = check_functions(resources, report)
    if "process_job" in ids:
        check_async_and_schedule(resources, ids["process_job"], report)
    check_iam(template, report)
    check_throttling(resources, report)
    check_routes(resources, ids, report)
    report.check(http_routes.main(["--check"]) == 0, "deploy/serverless/http-routes.json is stale")
    report.check(
        package_contents.main(["--check"]) == 0,
        "deploy/serverless/package-contents.json is stale",
    )
    print("artifacts:")
    with tempfile.TemporaryDirectory() as tmp:
        check_zips(resources, ids, report, Path(tmp))
        check_no_secret_values(report, Path(tmp))
    if report.failures:
        print(f"\n{len(report.failures)} problem(s) in the packaged service:", file=sys.stderr)
        for failure in report.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("serverless package: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
