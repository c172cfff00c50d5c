"""The deployment artifacts, checked with the real tools: the Supabase CLI applies the
migrations, and osls packages the functions offline into the template we expect."""

from __future__ import annotations

import subprocess
import sys

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
