"""Stands in for pg_net's background worker: the relay that delivers what ``net.http_post``
queued on a plain Postgres (the shim is devstack/postgres/sql/pg_net_shim.sql).

- ``worker``: listens for committed requests, sends them at pg_net's pace, records outcomes.
- ``senders``: the HTTP client side (concurrency, timeouts, what an outcome holds).
- ``queries``: the SQL it runs against the ``net`` schema.

    python -m devstack.relay [--database-url URL] [--no-pacing]
"""
