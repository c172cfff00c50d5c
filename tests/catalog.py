"""A database's catalog as plain data, to compare two databases object by object: the tables,
columns, indexes, constraints, functions (with their definitions), triggers, policies, grants,
storage options and publication members of the schemas the project writes."""

from __future__ import annotations

from typing import Any

import psycopg

SCHEMAS = ("public", "private", "realtime")

# Each query yields (kind, name, description) rows; name is unique within its kind.
QUERIES: dict[str, str] = {
    "column": """
        select c.table_schema || '.' || c.table_name || '.' || c.column_name,
               concat_ws(' ', c.data_type, c.udt_name, 'null=' || c.is_nullable,
                         'default=' || c.column_default, 'identity=' || c.is_identity,
                         'position=' || c.ordinal_position)
        from information_schema.columns c
        where c.table_schema = any(%(schemas)s)""",
    "index": """
        select schemaname || '.' || indexname, indexdef from pg_indexes
        where schemaname = any(%(schemas)s)""",
    "constraint": """
        select n.nspname || '.' || r.relname || '.' || c.conname, pg_get_constraintdef(c.oid)
        from pg_constraint c join pg_class r on r.oid = c.conrelid
        join pg_namespace n on n.oid = r.relnamespace
        where n.nspname = any(%(schemas)s)""",
    "function": """
        select p.oid::regprocedure::text,
               pg_get_functiondef(p.oid) || ' owner=' || pg_get_userbyid(p.proowner)
               || ' acl=' || coalesce(p.proacl::text, 'default')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%(schemas)s) and p.prokind in ('f', 'p')""",
    "trigger": """
        select t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
        from pg_trigger t join pg_class r on r.oid = t.tgrelid
        join pg_namespace n on n.oid = r.relnamespace
        where not t.tgisinternal and (n.nspname = any(%(schemas)s) or n.nspname = 'pgmq')""",
    "policy": """
        select schemaname || '.' || tablename || '.' || policyname,
               concat_ws(' ', cmd, roles::text, qual, with_check, permissive)
        from pg_policies where schemaname = any(%(schemas)s)""",
    "table": """
        select n.nspname || '.' || r.relname,
               concat_ws(' ', r.relkind::text, 'rls=' || r.relrowsecurity,
                         'replica=' || r.relreplident::text,
                         'acl=' || coalesce(r.relacl::text, '-'),
                         'options=' || coalesce(r.reloptions::text, '-'))
        from pg_class r join pg_namespace n on n.oid = r.relnamespace
        where r.relkind in ('r', 'p', 'v', 'S')
          and (n.nspname = any(%(schemas)s)
               or (n.nspname = 'pgmq' and r.relname like '%%work_queue'))""",
    "schema": """
        select nspname, coalesce(nspacl::text, '-') from pg_namespace
        where nspname = any(%(schemas)s) or nspname = 'pgmq'""",
    "publication": """
        select pubname || '.' || schemaname || '.' || tablename, '' from pg_publication_tables""",
}


def snapshot(url: str) -> dict[tuple[str, str], str]:
    """Every object of the project's schemas, keyed by (kind, name)."""
    found: dict[tuple[str, str], str] = {}
    with psycopg.connect(url) as conn:
        for kind, query in QUERIES.items():
            for name, description in conn.execute(query, {"schemas": list(SCHEMAS)}):
                found[(kind, str(name))] = str(description)
    return found


def differences(left: dict[tuple[str, str], Any], right: dict[tuple[str, str], Any]) -> list[str]:
    """What differs, one line an object: missing on one side, or defined otherwise."""
    lines = []
    for key in sorted(set(left) | set(right)):
        kind, name = key
        if key not in right:
            lines.append(f"{kind} {name}: only in the first")
        elif key not in left:
            lines.append(f"{kind} {name}: only in the second")
        elif left[key] != right[key]:
            lines.append(f"{kind} {name}: defined differently\n  {left[key]}\n  {right[key]}")
    return lines
