"""The database's source, ``supabase/schema/``: its files in the order that builds the database.

Every table, function, trigger and policy is written once there, as it is now; the migrations in
``supabase/migrations/`` are how a database already running gets there, and
``tests/sql/test_schema_matches_migrations.py`` holds the two equal. A new behaviour changes the
schema file and adds a migration that restates what changed (see docs/database.md).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Only a checkout has it: an installed runner applies the migrations, which carry the same.
SCHEMA_DIR = ROOT / "supabase" / "schema"


def schema_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Every .sql file below ``directory``, in path order: the order that builds the database."""
    files = sorted(directory.rglob("*.sql"), key=lambda p: p.relative_to(directory).parts)
    if not files:
        raise FileNotFoundError(f"no schema files (*.sql) below {directory}")
    return files


def schema_sql(directory: Path = SCHEMA_DIR) -> str:
    """The whole schema as one script, each file introduced by its path."""
    parts = []
    for path in schema_files(directory):
        name = path.relative_to(directory).as_posix()
        parts.append(f"-- ===== {name} =====\n{path.read_text().rstrip()}\n")
    return "\n".join(parts)
