"""The relay's sender against a loopback HTTP server that drops connections: as libcurl in
pg_net, a request that went out on a kept-alive connection the server had closed is sent again
on a fresh one, and a connection that dies on its first request is an error, not retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from devstack.relay.senders import HttpRequest, Outcome, Senders

# connection number (from 1), request number on it (from 1) -> answer it, or drop the socket
Policy = Callable[[int, int], bool]


class DroppingServer:
    """HTTP/1.1 with keep-alive on loopback; counts each request it reads per connection."""

    def __init__(self, answer: Policy) -> None:
        self._answer = answer
        self.requests: list[tuple[int, int]] = []
        self._connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        connection = self._connections
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                served += 1
                self.requests.append((connection, served))
                if not self._answer(connection, served):
                    return  # closed without a byte of answer
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}/webhook"
        finally:
            server.close()
            await server.wait_closed()


def posts(url: str, count: int) -> list[HttpRequest]:
    return [HttpRequest(i, "POST", url, {"x-n": i}, b"{}", 5_000) for i in range(count)]


async def send_one_by_one(
    answer: Policy, count: int
) -> tuple[list[Outcome], list[tuple[int, int]]]:
    server = DroppingServer(answer)
    async with server.running() as url, Senders(1) as senders:
        outcomes = [(await senders.deliver_all([request]))[0] for request in posts(url, count)]
    return outcomes, server.requests


def test_a_kept_alive_connection_the_server_dropped_is_replaced_and_the_request_resent() -> None:
    # The server drops the first connection when its second request arrives.
    outcomes, seen = asyncio.run(send_one_by_one(lambda conn, n: (conn, n) != (1, 2), 3))
    assert [o.status_code for o in outcomes] == [200, 200, 200]
    assert [o.error_msg for o in outcomes] == [None, None, None]
    assert seen == [(1, 1), (1, 2), (2, 1), (2, 2)]  # request 2 twice: dropped, then resent


def test_a_connection_that_dies_on_its_first_request_is_an_error_not_retried() -> None:
    outcomes, seen = asyncio.run(send_one_by_one(lambda conn, n: conn != 1, 2))
    assert outcomes[0].status_code is None and outcomes[0].error_msg
    assert outcomes[1].status_code == 200
    assert seen == [(1, 1), (2, 1)]  # the first request went out once


def test_a_server_that_drops_every_reused_connection_gets_each_request_once_more() -> None:
    # Every connection answers its first request only: each later request is resent once.
    outcomes, seen = asyncio.run(send_one_by_one(lambda conn, n: n == 1, 3))
    assert [o.status_code for o in outcomes] == [200, 200, 200]
    assert seen == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
