"""The deployment artifacts, checked with the real tools: the Supabase CLI applies the
migrations, and osls packages the functions offline into the template we expect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.services import ROOT
from tests.conftest import PgServer


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
