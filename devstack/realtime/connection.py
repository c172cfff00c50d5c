"""One client's WebSocket: frames are written at once, in order, without waiting for the
client (so one slow client never holds up the others), and a client that lets too much pile up
unread is disconnected. Also: when it was last heard from."""

from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.server import ServerConnection, broadcast

from devstack.realtime.protocol import Vsn

log = logging.getLogger("devstack.realtime")

MAX_UNSENT_BYTES = 32 << 20
# 1013 "try again later": the client could not keep up with its changes.
CLOSE_TOO_SLOW = 1013


class ClientConnection:
    """Implements the channels' ``Outbox`` for one WebSocket."""

    def __init__(self, ws: ServerConnection, vsn: Vsn, peer: str) -> None:
        self.ws = ws
        self.vsn = vsn
        self.peer = peer
        self.last_seen = time.monotonic()
        self._closing = False

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def idle_for(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.last_seen

    def send_frame(self, frame: str) -> None:
        if self._closing:
            return
        # websockets' broadcast writes to the transport without awaiting the client: a
        # fan-out to hundreds of connections costs no task switch per frame.
        broadcast([self.ws], frame)
        if self.ws.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            log.warning("%s has %d MiB unread; closing it", self.peer, MAX_UNSENT_BYTES >> 20)
            self.close_soon(CLOSE_TOO_SLOW, "too slow")

    def close_soon(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        task = asyncio.get_running_loop().create_task(self.ws.close(code, reason))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
