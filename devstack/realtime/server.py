"""The gateway: a WebSocket server at ``/realtime/v1/websocket`` wired to the change feed.

A handshake without a valid API key is refused with HTTP 403 before the upgrade, as hosted
Realtime does. A connection silent for ``heartbeat_timeout_s`` is closed. The public port is
the local "Supabase URL" (``realtime.front``): it also serves the anonymous sign-in part of
the Auth API at ``/auth/v1``, and passes the rest to the WebSocket server on a loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from psycopg_pool import AsyncConnectionPool
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.http11 import Request, Response

from devstack.auth.api import AuthApi
from devstack.auth.signing import SigningKeys
from devstack.background import ThreadedService
from devstack.pg_async import run_beside, unless_stopped
from devstack.realtime import protocol
from devstack.realtime.auth import AuthError, Identity, Verifier
from devstack.realtime.broadcasts import Message
from devstack.realtime.catalog import Catalog
from devstack.realtime.channels import Registry
from devstack.realtime.config import PATH, GatewayConfig
from devstack.realtime.connection import ClientConnection
from devstack.realtime.dispatch import Dispatcher
from devstack.realtime.feed import ChangeFeed
from devstack.realtime.front import Front
from devstack.realtime.session import Session
from devstack.realtime.topics import Topics

log = logging.getLogger("devstack.realtime")


class _WebSocketNoise(logging.Filter):
    """Keep websockets' own warnings and errors, minus the port probes' (a connect and a close,
    as ManagedProcess does) "failed handshakes"; connects are logged by the gateway itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, InvalidMessage) and isinstance(error.__cause__, EOFError))


websocket_log = logging.getLogger("devstack.realtime.websockets")
websocket_log.addFilter(_WebSocketNoise())

# 1000 with a reason: the Python client reconnects on it, realtime-js too.
CLOSE_IDLE = 1000


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class Gateway:
    """Serves Realtime clients until ``run``'s stop event is set."""

    def __init__(
        self, config: GatewayConfig, on_ready: Callable[[int], None] | None = None
    ) -> None:
        self.config = config
        self.port: int | None = None
        self._on_ready = on_ready
        self.signing = (
            SigningKeys(
                config.jwt_secret, config.es256_pem, config.es256_kid, config.signing_algorithm
            )
            if config.es256_pem
            else SigningKeys.generate(config.jwt_secret, config.signing_algorithm)
        )
        self._verifier = Verifier(config.jwt_secret, config.roles, self.signing, config.api_keys)
        self._registry = Registry()
        self._handshakes: weakref.WeakKeyDictionary[
            ServerConnection, tuple[Identity, protocol.Vsn]
        ] = weakref.WeakKeyDictionary()
        self._sessions: dict[ClientConnection, Session] = {}
        self._catalog: Catalog | None = None
        self._topics: Topics | None = None
        self._dispatcher: Dispatcher | None = None
        self.messages_delivered = 0  # Broadcast frames sent (the benchmark reads it)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") in ("", "/healthz") and "upgrade" not in request.headers:
            return ws.respond(HTTPStatus.OK, "ok\n")
        if url.path.rstrip("/") != PATH:
            return ws.respond(HTTPStatus.NOT_FOUND, f"not found; connect to {PATH}\n")
        query = parse_qs(url.query)
        try:
            vsn = protocol.Vsn.parse(_first(query, "vsn"))
        except protocol.ProtocolError as exc:
            return ws.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        token = (
            request.headers.get("x-api-key")
            or request.headers.get("apikey")
            or _first(query, "apikey")
        )
        try:
            identity = self._verifier.verify(token)
        except AuthError as exc:
            log.info("refused a connection from %s: %s", _peer(ws), exc.reason)
            return ws.respond(HTTPStatus.FORBIDDEN, f"{exc.reason}\n")
        self._handshakes[ws] = (identity, vsn)
        return None

    async def _serve_client(self, ws: ServerConnection) -> None:
        identity, vsn = self._handshakes.pop(ws)
        assert self._catalog is not None and self._topics is not None
        conn = ClientConnection(ws, vsn, _peer(ws))
        session = Session(
            conn,
            identity,
            self._verifier,
            self._registry,
            self._catalog,
            conn.peer,
            topics=self._topics,
        )
        self._sessions[conn] = session
        log.info("connect %s as %s (vsn %s)", conn.peer, identity.role, vsn.value)
        try:
            async for frame in ws:
                conn.touch()
                try:
                    if isinstance(frame, bytes):
                        message = protocol.decode_binary(frame)
                    else:
                        message = protocol.decode(frame, vsn)
                except protocol.ProtocolError as exc:
                    log.info("%s sent a frame that is not a Phoenix message: %s", conn.peer, exc)
                    continue
                await session.handle(message)
        except ConnectionClosed:
            pass
        finally:
            session.end()
            del self._sessions[conn]
            log.info("disconnect %s (code %s)", conn.peer, ws.close_code)

    async def _deliver_messages(self, notified: list[Message | str]) -> None:
        assert self._topics is not None and self._dispatcher is not None
        if not len(self._registry):
            return
        ids = [item for item in notified if isinstance(item, str)]
        fetched = {m.id: m for m in await self._topics.fetch(ids)} if ids else {}
        messages = [
            item if isinstance(item, Message) else fetched[item]
            for item in notified
            if isinstance(item, Message) or item in fetched
        ]
        self.messages_delivered += self._dispatcher.deliver_messages(messages)

    async def _reap_forever(self) -> None:
        timeout = self.config.heartbeat_timeout_s
        while True:
            await asyncio.sleep(min(5.0, timeout / 4))
            for conn, session in list(self._sessions.items()):
                session.expire_tokens()
                if conn.idle_for() > timeout:
                    log.info("%s sent nothing for %.0fs; closing it", conn.peer, conn.idle_for())
                    conn.close_soon(CLOSE_IDLE, "heartbeat timeout")

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        cfg = self.config
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            cfg.database_url,
            min_size=1,
            max_size=4,
            open=False,
            timeout=10.0,
            kwargs={"autocommit": True, "application_name": "devstack.realtime"},
            check=AsyncConnectionPool.check_connection,
        )
        await pool.open(wait=False)
        self._catalog = Catalog(pool)
        self._topics = Topics(pool)
        self._dispatcher = Dispatcher(self._registry, self._catalog, pool)
        listening = asyncio.Event()
        feed = ChangeFeed(
            cfg.database_url,
            pool,
            self._dispatcher,
            retention=timedelta(seconds=cfg.retention_s),
            housekeeping_every_s=cfg.housekeeping_every_s,
            on_listening=listening.set,
            on_messages=self._deliver_messages,
        )
        try:
            await run_beside(self._serve(listening, stop), feed.run(stop), self._reap_forever())
        finally:
            await pool.close()

    async def _serve(self, listening: asyncio.Event, stop: asyncio.Event) -> None:
        # The port opens only once changes are followed: a client that can connect
        # misses nothing committed after its subscription is confirmed.
        if not await unless_stopped(listening.wait(), stop):
            return
        cfg = self.config
        public: asyncio.Server | None = None
        try:
            async with serve(
                self._serve_client,
                "127.0.0.1",
                0,
                process_request=self._process_request,
                compression=None,  # as hosted Realtime; deflating each change per client costs
                max_size=1 << 20,
                close_timeout=3,  # a client that never answers the close must not hold a stop
                logger=websocket_log,
            ) as websockets_server:
                backend_port = int(next(iter(websockets_server.sockets)).getsockname()[1])
                auth = AuthApi(self.signing, api_keys=cfg.api_keys)
                front = Front(auth, "127.0.0.1", backend_port)
                public = await asyncio.start_server(front.handle, cfg.host, cfg.port)
                self.port = int(next(iter(public.sockets)).getsockname()[1])
                auth.issuer = f"http://{cfg.host}:{self.port}/auth/v1"
                log.info(
                    "listening on ws://%s:%d%s (and Auth at /auth/v1)", cfg.host, self.port, PATH
                )
                if self._on_ready is not None:
                    self._on_ready(self.port)
                await stop.wait()
                # Stop accepting; the WebSocket server's exit then closes every client, which
                # ends the connections passed through the front.
                public.close()
        finally:
            if public is not None:
                public.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(public.wait_closed(), 3)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


@dataclass
class RunningGateway:
    """A gateway on a background thread (see :func:`start_in_thread`)."""

    service: ThreadedService
    gateway: Gateway

    @property
    def port(self) -> int:
        assert self.gateway.port is not None
        return self.gateway.port

    @property
    def url(self) -> str:
        """What the Realtime clients take: ``ws://127.0.0.1:<port>/realtime/v1``."""
        return f"ws://{self.gateway.config.host}:{self.port}/realtime/v1"

    def stop(self, timeout_s: float = 10.0) -> None:
        self.service.stop(timeout_s)

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    config: GatewayConfig, *, ready_timeout_s: float | None = 30.0
) -> RunningGateway:
    """A gateway serving on a background thread; returns once it accepts clients and follows
    changes. ``.port``/``.url`` say where; ``.stop()`` ends it."""
    ready = threading.Event()
    gateway = Gateway(config, on_ready=lambda _port: ready.set())
    service = ThreadedService("devstack.realtime", gateway.run, ready).start(ready_timeout_s)
    return RunningGateway(service, gateway)
