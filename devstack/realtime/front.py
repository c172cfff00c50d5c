"""The local "Supabase URL": one port, as Supabase's API gateway, that serves ``/auth/v1/*``
(devstack.auth.api) itself and passes every other connection, bytes untouched, to the
Realtime gateway's WebSocket server on a loopback port of its own.

The WebSocket library parses GET handshakes only, so Auth's POSTs cannot reach it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import parse_qsl, urlsplit

from devstack.auth.api import PREFIX, AuthApi

log = logging.getLogger("devstack.realtime.front")

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
}


class Front:
    """Accepts clients on the public port; ``backend_port`` is the WebSocket server's."""

    def __init__(self, auth: AuthApi, backend_host: str, backend_port: int) -> None:
        self._auth = auth
        self._backend = (backend_host, backend_port)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()  # a port probe, or a head too large to be a client's
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        target = parts[1] if len(parts) == 3 else ""
        try:
            if urlsplit(target).path.startswith(PREFIX + "/") or urlsplit(target).path == PREFIX:
                await self._serve_auth(parts[0], target, head, reader, writer)
            else:
                await self._pass(head, reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_auth(
        self,
        method: str,
        target: str,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            await _respond(writer, 413, b'{"msg": "request body too large"}', {})
            return
        body = await reader.readexactly(length) if length else b""
        url = urlsplit(target)
        response = self._auth.handle(method, url.path, dict(parse_qsl(url.query)), headers, body)
        await _respond(writer, response.status, response.encoded(), dict(response.headers))

    async def _pass(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        backend_reader, backend_writer = await asyncio.open_connection(*self._backend)
        backend_writer.write(head)
        try:
            await asyncio.gather(_copy(reader, backend_writer), _copy(backend_reader, writer))
        finally:
            backend_writer.close()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        # The other direction ends too: a WebSocket is over when either side closes.
        with contextlib.suppress(ConnectionError, RuntimeError):
            sink.close()


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str]
) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
