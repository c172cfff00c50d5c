"""A minimal Realtime subscriber: one WebSocket speaking the Phoenix protocol (vsn 1.0.0 JSON
objects) and nothing else: no client library, no validation, so that what the gateway costs is
measured apart from what a heavy client costs. Joins one channel for UPDATEs of job_results
and hands each raw frame, with its arrival time, to a callback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import websockets

JOIN_TIMEOUT_S = 30.0
HEARTBEAT_S = 20.0

OnFrame = Callable[[str, float], None]


def socket_url(realtime_url: str, anon_key: str) -> str:
    """``http://host/realtime/v1`` → its WebSocket endpoint with the key and protocol version."""
    base = realtime_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return f"{base}/websocket?apikey={anon_key}&vsn=1.0.0"


class Subscriber:
    def __init__(self, url: str, topic: str, on_frame: OnFrame) -> None:
        self._url = url
        self._topic = f"realtime:{topic}"
        self._on_frame = on_frame
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Connect and join; returns once the gateway has acknowledged the join."""
        self._ws = await websockets.connect(self._url, max_size=None, compression=None)
        join = {
            "topic": self._topic,
            "event": "phx_join",
            "ref": "1",
            "join_ref": "1",
            "payload": {
                "config": {
                    "postgres_changes": [
                        {"event": "UPDATE", "schema": "public", "table": "job_results"}
                    ]
                }
            },
        }
        await self._ws.send(json.dumps(join))
        async with asyncio.timeout(JOIN_TIMEOUT_S):
            while True:
                reply = json.loads(await self._ws.recv())
                if reply.get("event") == "phx_reply" and reply.get("ref") == "1":
                    if reply["payload"].get("status") != "ok":
                        raise RuntimeError(f"join refused: {reply['payload']}")
                    break
        self._tasks = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._heartbeat()),
        ]

    async def _receive(self) -> None:
        async for frame in self._ws:
            self._on_frame(frame if isinstance(frame, str) else frame.decode(), time.time())

    async def _heartbeat(self) -> None:
        ref = 100
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            ref += 1
            beat = {"topic": "phoenix", "event": "heartbeat", "ref": str(ref), "payload": {}}
            await self._ws.send(json.dumps(beat))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
