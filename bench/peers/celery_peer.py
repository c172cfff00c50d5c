"""Celery on Redis: ``delay`` (``apply_async``), solo-pool worker processes draining a queue,
and a private Redis server when none answers.

Worker processes import this module (``celery -A bench.peers.celery_peer``) and read the broker
from BENCH_REDIS_URL."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import redis
from celery import Celery

from bench.clients import SyncSend, time_threads
from bench.settings import BENCH_REDIS_URL, CeleryPeerSettings
from devstack.postgres.embedded import free_port
from devstack.services import ROOT

DEFAULT_REDIS_URL = BENCH_REDIS_URL.default
UNACKED = "unacked"  # kombu's Redis transport keeps prefetched, unacknowledged messages here

app = Celery("bench", broker=CeleryPeerSettings.from_env().broker_url)
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop", ignore_result=True)  # type: ignore[untyped-decorator]
def noop() -> None:
    return None


def configure(redis_url: str) -> None:
    app.conf.broker_url = redis_url
    os.environ[BENCH_REDIS_URL.name] = redis_url  # for the workers it starts


def reachable(redis_url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextmanager
def redis_server(redis_url: str | None) -> Iterator[str | None]:
    """``redis_url`` if it answers, else a private redis-server for the run, else None."""
    url = redis_url or DEFAULT_REDIS_URL
    if reachable(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/15"
    try:
        deadline = time.monotonic() + 10
        while not reachable(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield url if reachable(url) else None
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def client(queue: str) -> Iterator[SyncSend]:
    def send(n: int) -> None:
        noop.apply_async(queue=queue)

    yield send


def time_submit(queue: str, clients: int, jobs: int) -> float:
    try:
        return time_threads(lambda: client(queue), clients, jobs)
    finally:
        redis.Redis.from_url(app.conf.broker_url).delete(queue)


class Workers:
    """``count`` solo-pool worker processes, started on an idle queue; ``drain`` points some of
    them at a backlog. Started once for all worker counts, outside any timing."""

    def __init__(self, count: int, log: IO[str]) -> None:
        self._token = secrets.token_hex(3)
        self._names = [f"w{i}-{self._token}@bench" for i in range(count)]
        self._log = log
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Workers:
        for name in self._names:
            self._processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "bench.peers.celery_peer",
                        "worker",
                        "--pool=solo",
                        "-Q",
                        f"idle-{self._token}",
                        "-n",
                        name,
                        "--loglevel=WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ],
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                    stdout=self._log,
                    stderr=self._log,
                )
            )
        try:
            self._wait_ready(60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        answered: set[str] = set()
        while time.monotonic() < deadline:
            replies: list[dict[str, Any]] = (
                app.control.ping(destination=self._names, timeout=0.5, limit=len(self._names)) or []
            )
            answered |= {name for reply in replies for name in reply}
            if answered >= set(self._names):
                return
        missing = sorted(set(self._names) - answered)
        raise TimeoutError(f"celery workers {missing} did not answer")

    def drain(self, jobs: int, workers: int, timeout_s: float) -> float:
        """Seconds for ``workers`` of them to empty a backlog of ``jobs`` no-op tasks, from
        the moment they are told to consume it."""
        queue = f"bench-{secrets.token_hex(3)}"
        names = self._names[:workers]
        broker = redis.Redis.from_url(app.conf.broker_url)
        try:
            with app.producer_or_acquire() as producer:
                for _ in range(jobs):
                    noop.apply_async(queue=queue, producer=producer)
            began = time.time()
            app.control.add_consumer(queue, destination=names)
            deadline = time.monotonic() + timeout_s
            while broker.llen(queue) or broker.hlen(UNACKED):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"celery left {broker.llen(queue)} messages")
                time.sleep(0.002)
            elapsed = time.time() - began
            app.control.cancel_consumer(queue, destination=names, reply=True, timeout=5)
            return elapsed
        finally:
            broker.delete(queue)

    def __exit__(self, *exc: object) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
                process.wait()
