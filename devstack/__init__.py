"""The local stand-ins for Supabase and the runner that starts them (``python -m devstack``).

An embedded Postgres, the migration runner, a pg_net-compatible relay, a Realtime gateway with
the part of Supabase Auth the page needs, the sweeper, and a supervisor for them all: each as
strict as the real thing, none of it deployed. See docs/local-stack.md.
"""
