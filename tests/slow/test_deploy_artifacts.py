"""The deployment artifacts, checked with the real tools: the Supabase CLI applies the
migrations, and osls packages the functions offline into the template we expect."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.services import ROOT
from tests.conftest import PgServer, exclusive

PARAMETER = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"
FUNCTION = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"


def run(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_the_supabase_cli_applies_the_migrations(pg_server: PgServer) -> None:
    done = run(
        ["bash", "scripts/check_supabase_cli.sh", pg_server.admin_url],
        timeout_s=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_serverless_packages_offline_with_the_expected_template() -> None:
    with exclusive("serverless-package"):  # the checkout's build folders are shared
        done = run([sys.executable, "scripts/check_serverless_package.py"], timeout_s=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "process_job" in done.stdout


def test_the_package_contents_are_derived_from_the_current_imports() -> None:
    done = run([sys.executable, "scripts/package_contents.py", "--check"], timeout_s=60)
    assert done.returncode == 0, done.stderr


def test_the_derived_contents_follow_every_import_and_nothing_else(tmp_path: Path) -> None:
    """A module imported only inside a function body joins the package; one that nothing
    imports stays out; third-party and standard-library imports are left to the layer."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import package_contents
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    pkg = tmp_path / "functions"
    (pkg / "db").mkdir(parents=True)
    for name, text in {
        "__init__.py": "",
        "hook.py": "import json, psycopg\n\ndef handler():\n    from functions.db import x\n",
        "db/__init__.py": "",
        "db/x.py": "from functions import shared\n",
        "shared.py": "",
        "unused.py": "",
    }.items():
        (pkg / name).write_text(text)
    assert package_contents.closure("functions.hook", root=tmp_path) == [
        "functions/__init__.py",
        "functions/db/__init__.py",
        "functions/db/x.py",
        "functions/hook.py",
        "functions/shared.py",
    ]


def test_a_function_that_imports_a_testing_module_is_refused(tmp_path: Path) -> None:
    """The in-memory twin lives under tests/ and never enters a zip: a handler that reaches it
    (here through a module of its own) is named, and ``--check`` of the real handlers passes
    only because none does."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import package_contents
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    (tmp_path / "functions").mkdir()
    (tmp_path / "tests" / "inmemory").mkdir(parents=True)
    for name, text in {
        "functions/__init__.py": "",
        "functions/hook.py": "def handler():\n    from functions import helper\n",
        "functions/helper.py": "from tests.inmemory import MemoryKindCatalog\n",
        "tests/__init__.py": "",
        "tests/inmemory/__init__.py": "MemoryKindCatalog = None\n",
    }.items():
        (tmp_path / name).write_text(text)
    assert package_contents.testing_modules("functions.hook", root=tmp_path) == [
        "tests",
        "tests.inmemory",
    ]
    for module in package_contents.HANDLERS.values():
        assert package_contents.testing_modules(module) == []


def test_the_http_routes_are_generated_from_the_route_table() -> None:
    done = run([sys.executable, "scripts/http_routes.py", "--check"], timeout_s=60)
    assert done.returncode == 0, done.stderr


def _scripts() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import check_serverless_package
        import iam_check
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return check_serverless_package, iam_check


@pytest.fixture(scope="module")
def packaged() -> dict[str, Any]:
    """The CloudFormation template osls packages (offline, no AWS credentials)."""
    packaging, _ = _scripts()
    with exclusive("serverless-package"):  # the checkout's build folders are shared
        packaging.ensure_osls()
        packaging.build_layer()
        packaging.package()
        template: dict[str, Any] = json.loads(packaging.TEMPLATE.read_text())
    return template


def _role_of(template: dict[str, Any], function: str) -> dict[str, Any]:
    props = template["Resources"][function]["Properties"]
    role: dict[str, Any] = template["Resources"][props["Role"]["Fn::GetAtt"][0]]
    return role


def _statement(template: dict[str, Any], function: str, action: str) -> dict[str, Any]:
    policy = _role_of(template, function)["Properties"]["Policies"][0]["PolicyDocument"]
    (found,) = [s for s in policy["Statement"] if s["Action"] == [action]]
    statement: dict[str, Any] = found
    return statement


def test_each_function_has_its_own_role_granting_exactly_what_it_needs(
    packaged: dict[str, Any],
) -> None:
    _, iam_check = _scripts()
    assert iam_check.problems(packaged) == []
    roles = {
        r["Properties"]["Role"]["Fn::GetAtt"][0]
        for r in packaged["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert len(roles) == 3


def test_a_parameter_the_environment_names_but_the_role_cannot_read_is_reported(
    packaged: dict[str, Any],
) -> None:
    """The bug of issue 19: the JWT secret's parameter named to submit, unreadable by it."""
    _, iam_check = _scripts()
    template = copy.deepcopy(packaged)
    ssm = _statement(template, "SubmitLambdaFunction", "ssm:GetParameter")
    ssm["Resource"] = [r for r in ssm["Resource"] if r.get("Fn::If", [""])[0] != "HasJwtSecret"]
    found = iam_check.problems(template)
    assert found == [
        "SubmitLambdaFunction: its role SubmitRole lacks ssm:GetParameter on"
        f" {PARAMETER}supajobs/ci/jwt-secret"
    ]


@pytest.mark.parametrize(
    ("function", "action", "resource", "named"),
    [
        # submit reading the webhook's secret
        (
            "SubmitLambdaFunction",
            "ssm:GetParameter",
            {"Fn::Sub": PARAMETER + "webhook-secret"},
            "allows ssm:GetParameter",
        ),
        # process_job invoking itself
        (
            "ProcessUnderscorejobLambdaFunction",
            "lambda:InvokeFunction",
            {"Fn::Sub": FUNCTION + "supajobs-ci-process_job"},
            "allows lambda:InvokeFunction",
        ),
        # the webhook reading the database URL
        (
            "WebhookLambdaFunction",
            "ssm:GetParameter",
            {"Fn::Sub": PARAMETER + "database-url"},
            "allows ssm:GetParameter",
        ),
        # anything on every resource
        ("WebhookLambdaFunction", "sqs:SendMessage", "*", "Resource '*'"),
    ],
)
def test_a_grant_the_function_does_not_need_is_reported(
    packaged: dict[str, Any], function: str, action: str, resource: Any, named: str
) -> None:
    _, iam_check = _scripts()
    template = copy.deepcopy(packaged)
    policy = _role_of(template, function)["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": [action], "Resource": [resource]})
    found = iam_check.problems(template)
    assert len(found) == 1 and named in found[0], found


def test_a_shared_role_is_reported(packaged: dict[str, Any]) -> None:
    _, iam_check = _scripts()
    template = copy.deepcopy(packaged)
    webhook = template["Resources"]["WebhookLambdaFunction"]["Properties"]
    webhook["Role"] = {"Fn::GetAtt": ["SubmitRole", "Arn"]}
    found = iam_check.problems(template)
    assert any("shares the role SubmitRole" in p for p in found), found
    assert any("WebhookRole: a role no function uses" in p for p in found), found


def test_a_route_the_api_serves_but_the_template_lacks_is_reported(
    packaged: dict[str, Any],
) -> None:
    packaging, _ = _scripts()
    resources = copy.deepcopy(packaged["Resources"])
    (retry,) = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
        and r["Properties"]["RouteKey"] == "POST /jobs/{job_id}/retry"
    ]
    del resources[retry]
    ids = packaging.check_functions(resources, packaging.Report())
    report = packaging.Report()
    packaging.check_routes(resources, ids, report)
    assert len(report.failures) == 1 and "POST /jobs/{job_id}/retry" in report.failures[0]
    report = packaging.Report()
    packaging.check_routes(packaged["Resources"], ids, report)
    assert report.failures == []
