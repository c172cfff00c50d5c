"""One client's WebSocket: a bounded outbox drained by a writer task, so a slow client never
holds up the others, and the time it was last heard from."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from devstack.realtime.protocol import Vsn

log = logging.getLogger("devstack.realtime")

MAX_QUEUED_FRAMES = 10_000
# 1013 "try again later": the client could not keep up with its changes.
CLOSE_TOO_SLOW = 1013


class ClientConnection:
    """Implements the channels' ``Outbox`` for one WebSocket."""

    def __init__(self, ws: ServerConnection, vsn: Vsn, peer: str) -> None:
        self.ws = ws
        self.vsn = vsn
        self.peer = peer
        self.last_seen = time.monotonic()
        self._frames: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._overflowed = False

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def idle_for(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.last_seen

    def send_frame(self, frame: str) -> None:
        if self._overflowed:
            return
        try:
            self._frames.put_nowait(frame)
        except asyncio.QueueFull:
            self._overflowed = True
            log.warning("%s fell %d frames behind; closing it", self.peer, MAX_QUEUED_FRAMES)
            self.close_soon(CLOSE_TOO_SLOW, "too slow")

    def close_soon(self, code: int, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self.ws.close(code, reason))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def write_forever(self) -> None:
        """Send queued frames in order until the connection closes."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.ws.send(await self._frames.get())
