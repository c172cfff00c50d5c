"""One pg_net request sent over HTTP, and its outcome as a ``net._http_response`` row."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx


@dataclass(frozen=True)
class HttpRequest:
    """A row of ``net.http_request_queue``."""

    id: int
    method: str
    url: str
    headers: dict[str, Any] | None
    body: bytes | None
    timeout_milliseconds: int


@dataclass(frozen=True)
class Outcome:
    """What became of one request: a response, or why there was none."""

    request: HttpRequest
    elapsed_ms: int
    status_code: int | None = None
    content_type: str | None = None
    headers: dict[str, str] | None = None
    content: str | None = None
    timed_out: bool = False
    error_msg: str | None = None

    def describe(self) -> str:
        """One log line: id, method, url without its query, status (or error), duration."""
        parts = urlsplit(self.request.url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        result = str(self.status_code) if self.error_msg is None else f"error: {self.error_msg}"
        return f"{self.request.id} {self.request.method} {url} {result} {self.elapsed_ms}ms"


def _text(data: bytes) -> str:
    # Postgres text cannot hold NUL.
    return data.decode("utf-8", "replace").replace("\x00", "")


def _response_headers(response: httpx.Response) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def _request_headers(request: HttpRequest) -> dict[str, str]:
    return {name: str(value) for name, value in (request.headers or {}).items()}


# What a connection the server closed while it sat idle looks like when a request goes out on
# it: nothing read back, the socket reset or shut.
_DEAD_CONNECTION = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class Sender:
    """One HTTP client of one connection, and whether that connection is being kept alive."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.kept_alive = False

    async def exchange(
        self, request: HttpRequest, timeout_s: float
    ) -> tuple[httpx.Response, bytes]:
        """The response and its body. As libcurl does for pg_net: when the request went out on
        a kept-alive connection that turns out dead before a byte comes back (the server closed
        it while idle), it is sent again, on a fresh connection (the dead one is dropped, so
        the second try cannot meet it); any other failure is final."""
        reused, self.kept_alive = self.kept_alive, False
        try:
            response = await self._send(request, timeout_s)
        except _DEAD_CONNECTION:
            if not reused:
                raise
            response = await self._send(request, timeout_s)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        self.kept_alive = response.http_version == "HTTP/1.1" and (
            response.headers.get("connection", "").lower() != "close"
        )
        return response, body

    async def _send(self, request: HttpRequest, timeout_s: float) -> httpx.Response:
        """Up to the response's headers; its body is still to be read."""
        outgoing = self.client.build_request(
            request.method,
            request.url,
            headers=_request_headers(request),
            content=request.body,
            timeout=timeout_s,
        )
        return await self.client.send(outgoing, stream=True)


async def deliver(sender: Sender, request: HttpRequest) -> Outcome:
    """Send ``request`` within its ``timeout_milliseconds`` overall; never raises."""
    timeout_s = request.timeout_milliseconds / 1000
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        async with asyncio.timeout(timeout_s):
            response, body = await sender.exchange(request, timeout_s)
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(
            request,
            elapsed(),
            timed_out=True,
            error_msg=f"Timeout of {request.timeout_milliseconds} ms reached",
        )
    except Exception as exc:  # any failure is recorded, as pg_net records curl's error
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome(request, elapsed(), error_msg=message)
    return Outcome(
        request,
        elapsed(),
        status_code=response.status_code,
        content_type=response.headers.get("content-type"),
        headers=_response_headers(response),
        content=_text(body),
    )


class Senders:
    """``count`` HTTP clients of one connection each, sending a batch's requests side by side.

    Not one shared pool: httpcore's pool rescans every queued request and every connection on
    each change of state, quadratic in the batch, which made a one-transaction burst of 10,000
    requests crawl at about 100 a second with the CPU busy in the pool.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("need at least one sender")
        self._count = count
        self._senders: list[Sender] = []
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Senders:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        for _ in range(self._count):
            client = httpx.AsyncClient(limits=limits, trust_env=False)
            self._senders.append(Sender(await self._stack.enter_async_context(client)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self._senders.clear()

    async def deliver_all(self, requests: Sequence[HttpRequest]) -> list[Outcome]:
        """Send each request once; the outcomes, in the order of ``requests``. A request's
        timeout starts when it goes out, not while it waits for a free sender."""
        outcomes: list[Outcome | None] = [None] * len(requests)
        indices = iter(range(len(requests)))  # shared: each request is taken by one sender

        async def send_with(sender: Sender) -> None:
            for i in indices:
                outcomes[i] = await deliver(sender, requests[i])

        await asyncio.gather(*(send_with(s) for s in self._senders[: len(requests)]))
        return [o for o in outcomes if o is not None]
