"""``python -m bench.worker SYSTEM MODE ARGS...``: one worker process of the benchmark, e.g.
``ours drain DATABASE_URL`` or ``realtime subscribe ...``. See bench/procs.py for how they
start and stop."""

from __future__ import annotations

import importlib
import sys

MODULES = {
    "ours": "bench.ours",
    "pgmq": "bench.peers.pgmq_raw",
    "pgqueuer": "bench.peers.pgqueuer_peer",
    "procrastinate": "bench.peers.procrastinate_peer",
    "realtime": "bench.realtime_latency",
    "fanout": "bench.fanout",
    "broadcast": "bench.broadcast",
}


def main(argv: list[str]) -> int:
    system, mode, *args = argv
    module = importlib.import_module(MODULES[system])
    getattr(module, f"{mode}_worker")(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
