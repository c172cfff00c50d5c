"""The local stack: a Docker-free stand-in for a Supabase project, for development and tests.

By what each stands in for:

- ``postgres/``: the project's Postgres (an embedded server, the migration runner, shims for
  what a plain Postgres lacks: pg_net's interface, extensions.hmac);
- ``relay/``: pg_net's background worker, delivering the wake-ups the database queues;
- ``realtime/``: Supabase Realtime's ``postgres_changes`` (the gateway, which also serves Auth);
- ``auth/``: the subset of Supabase Auth (GoTrue) the page uses, and the project's keys.

What runs them is at this level: ``python -m devstack`` (``__main__``) starts the whole stack
under a ``supervisor`` that restarts ``services`` by a ``restarts`` policy; ``config`` holds the
stack's ports and local secrets; ``settings`` is what each program reads from the environment
(once, into one object; secrets never on a command line); ``sweeper`` is the local stand-in for
pg_cron's sweep; ``page_build``/``page_server`` build and serve the page; ``background`` and
``pg_async`` run long-lived loops in threads and keep their database connections;
``entrypoints`` are the console scripts; ``migrate`` only keeps ``python -m devstack.migrate``
(the name the baseline migration's messages give) running ``postgres.migrate``.
See docs/local-stack.md.
"""
