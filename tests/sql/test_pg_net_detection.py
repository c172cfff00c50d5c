"""Which `net` the migration runner sets up: real pg_net only where its worker serves this
database, otherwise the pg_net-compatible shim, with a warning when pg_net is there but unusable."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

import psycopg
import pytest

from devstack.postgres import migrate
from devstack.postgres.migrate import NetPlan, PgNetReport, plan_net
from tests.conftest import PgServer

USABLE = PgNetReport(
    database="app",
    available=True,
    installed=False,
    net_present=False,
    preloaded=True,
    served_database="app",
)


def test_a_preloaded_pg_net_serving_this_database_is_used() -> None:
    assert plan_net(USABLE) == NetPlan("create_extension", real=True)
    installed = replace(USABLE, installed=True, net_present=True)
    assert plan_net(installed) == NetPlan("none", real=True)


def test_without_pg_net_the_shim_is_installed_quietly() -> None:
    report = replace(USABLE, available=False, preloaded=False, served_database=None)
    assert plan_net(report) == NetPlan("install_shim", real=False)
    assert plan_net(replace(report, net_present=True)) == NetPlan("none", real=False)


def test_pg_net_not_preloaded_falls_back_to_the_shim_and_says_why() -> None:
    plan = plan_net(replace(USABLE, preloaded=False, served_database=None))
    assert (plan.action, plan.real) == ("install_shim", False)
    assert plan.warning is not None and "shared_preload_libraries" in plan.warning


def test_pg_net_serving_another_database_falls_back_to_the_shim_and_names_both() -> None:
    plan = plan_net(replace(USABLE, served_database="postgres"))
    assert (plan.action, plan.real) == ("install_shim", False)
    assert plan.warning is not None
    assert "'postgres'" in plan.warning and "'app'" in plan.warning


def test_pg_net_installed_here_but_unserved_is_left_alone_with_a_warning() -> None:
    report = replace(USABLE, installed=True, net_present=True, served_database="other")
    plan = plan_net(report)
    assert (plan.action, plan.real) == ("none", False)
    assert plan.warning is not None and "never be sent" in plan.warning


def test_the_server_report_and_the_fallback_on_a_real_server(
    pg_server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"n_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        url = pg_server.url_for(name)
        with psycopg.connect(url, autocommit=True) as conn:
            report = migrate.inspect_pg_net(conn)
            assert report.database == name
            assert (report.installed, report.net_present) == (False, False)
            # The setting exists only where the library is loaded; a fresh database is never
            # the one pg_net serves, so the shim is what the runner installs here either way.
            assert (report.served_database is not None) == report.preloaded
            assert plan_net(report).action == "install_shim"
            unusable = plan_net(
                replace(report, available=True, preloaded=False, served_database=None)
            )
            with caplog.at_level(logging.WARNING, logger="devstack.postgres.migrate"):
                migrate.apply_net_plan(conn, unusable)
            assert "shared_preload_libraries" in caplog.text
            after = migrate.inspect_pg_net(conn)
        assert (after.installed, after.net_present) == (False, True)
        assert migrate.real_pg_net(url) is False
        assert migrate.migrate(url) == [m.path.name for m in migrate.discover()]
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def test_a_role_that_may_not_read_the_preload_list_gets_the_same_report(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        as_owner = migrate.inspect_pg_net(conn)
        conn.execute("set role anon")
        assert conn.execute("select pg_has_role('pg_read_all_settings', 'USAGE')").fetchone() == (
            False,
        )
        assert migrate.inspect_pg_net(conn) == as_owner
