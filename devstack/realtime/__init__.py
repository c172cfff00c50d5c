"""A local stand-in for Supabase Realtime's ``postgres_changes`` and Broadcast from the database,
for the unmodified clients.

supabase-js / realtime-js (``vsn=2.0.0``) and the Python ``realtime`` package (``vsn=1.0.0``)
connect to ``ws://<host>:<port>/realtime/v1/websocket?apikey=<jwt>``. Changes come from a row
trigger on each table in the ``supabase_realtime`` publication (capture.sql), are delivered in
commit order, and only to subscribers whose role may select the row. Broadcast messages that
``realtime.send`` puts in ``realtime.messages`` go to the channels joined to their topic; a
private channel (``config.private``) is authorised at its join by the policies on
``realtime.messages`` with the subscriber's claims, and may ask for a replay
(``config.broadcast.replay = {since, limit}``), as on hosted Realtime.

    DATABASE_URL=... SUPABASE_JWT_SECRET=... python -m devstack.realtime --port N

From Python: :func:`start_in_thread` (tests, the local stack), or
``await Gateway(config).run(stop)`` on a running event loop.
"""

from devstack.realtime.capture import install_capture, install_capture_async
from devstack.realtime.config import PATH, GatewayConfig
from devstack.realtime.server import Gateway, RunningGateway, start_in_thread

__all__ = [
    "PATH",
    "Gateway",
    "GatewayConfig",
    "RunningGateway",
    "install_capture",
    "install_capture_async",
    "start_in_thread",
]
