#!/usr/bin/env bash
# Are the migrations valid for the Supabase toolchain? The Supabase CLI itself applies them to
# a fresh database on the given server; then every file must be recorded as applied, a second
# run must find nothing to do, and submit_job must work.
#
#   scripts/check_supabase_cli.sh postgresql://postgres@127.0.0.1:5432/postgres
#
# The URL names a role that may create databases, and any database on that server (used only
# to create and drop the fresh one). Run from a checkout with .venv installed (`make install`);
# PYTHON overrides the interpreter, KEEP_DB=1 keeps the database for a look afterwards.
#
# The CLI is the npm package `supabase` (deploy/supabase-cli, installed by `npm ci` from the
# committed lockfile). Its binary comes in a platform package that npm picks among the optional
# dependencies (@supabase/cli-linux-x64 here); nothing is downloaded after install.
set -euo pipefail
cd "$(dirname "$0")/.."

server_url=${1:?usage: scripts/check_supabase_cli.sh POSTGRES_URL}
python=${PYTHON:-.venv/bin/python}
tools=deploy/supabase-cli
cli=$tools/node_modules/.bin/supabase

if [[ ! -x $cli || $tools/package-lock.json -nt $tools/node_modules/.package-lock.json ]]; then
  echo "installing the Supabase CLI: npm ci in $tools"
  (cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
echo "Supabase CLI $("$cli" --version)"

db="supajobs_cli_check_$$_$RANDOM"

# The fresh database's URL. The CLI insists on TLS unless the URL says otherwise, and a test
# server rarely has it: sslmode=disable is added when the URL names no sslmode.
db_url=$("$python" - "$server_url" "$db" <<'PY'
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

url, database = sys.argv[1], sys.argv[2]
parts = urlsplit(url)
if parts.scheme not in ("postgres", "postgresql"):
    sys.exit(f"give a postgresql:// URL, not {url!r}")
query = dict(parse_qsl(parts.query))
query.setdefault("sslmode", "disable")
print(urlunsplit(parts._replace(path=f"/{database}", query=urlencode(query))))
PY
)

db_admin() { # db_admin create|drop NAME
  "$python" - "$server_url" "$1" "$2" <<'PY'
import sys

import psycopg
from psycopg import sql

url, action, name = sys.argv[1:4]
statement = {
    "create": "create database {}",
    "drop": "drop database if exists {} with (force)",
}[action]
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute(sql.SQL(statement).format(sql.Identifier(name)))
PY
}

cleanup() {
  if [[ ${KEEP_DB:-} == 1 ]]; then
    echo "kept database $db"
  else
    db_admin drop "$db"
  fi
}

db_admin create "$db"
trap cleanup EXIT
echo "database $db created"

# Roles, PGMQ and the net schema, as on Supabase; no migration is applied here.
"$python" -m devstack.postgres.migrate --database-url "$db_url" --prepare-only

echo "--- supabase migration up"
"$cli" migration up --db-url "$db_url"
echo "--- supabase migration up, again: nothing may be pending"
"$cli" migration up --db-url "$db_url"

"$python" - "$db_url" <<'PY'
import sys
from pathlib import Path

import psycopg

files = sorted(Path("supabase/migrations").glob("*.sql"))
expected = [tuple(path.stem.split("_", 1)) for path in files]
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    applied = conn.execute(
        "select version, name from supabase_migrations.schema_migrations order by version"
    ).fetchall()
    if [tuple(row) for row in applied] != expected:
        sys.exit(f"the CLI recorded {applied}, expected {expected}")
    row = conn.execute("select public.submit_job('cli-check', '{\"kind\": \"noop\"}')").fetchone()
    queued = conn.execute("select count(*) from pgmq.q_work_queue").fetchone()
    if row is None or queued is None or queued[0] != 1:
        sys.exit("submit_job on the CLI-migrated database did not queue its message")
print(f"all {len(files)} migrations applied by the Supabase CLI; submit_job queued job {row[0]}")
PY
echo "supabase CLI check passed in ${SECONDS}s"
