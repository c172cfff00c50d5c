"""The local stand-in for process_job's schedule: a tick that invokes it every few seconds, so a
message whose webhook never arrived is still processed (AWS runs the same as an EventBridge
rule; see serverless.yml)."""

from __future__ import annotations

import argparse
import logging
import os
import threading
import urllib.error
import urllib.request

log = logging.getLogger("devstack.sweeper")


def sweep_once(process_job_url: str, secret: str, timeout_s: float = 900) -> int:
    """Invoke process_job once and wait for its answer; the HTTP status, or 0 if unreachable."""
    request = urllib.request.Request(  # noqa: S310  # our own local URL
        process_job_url,
        data=b'{"source": "sweeper"}',
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            body = response.read().decode("utf-8", "replace")
            if '"completed": 0, "failed": 0, "retried": 0, "skipped": 0' not in body:
                log.info("sweep: %s", body)
            return int(response.status)
    except urllib.error.HTTPError as error:
        log.warning("sweep answered %s", error.code)
        return int(error.code)
    except OSError as exc:
        log.warning("sweep could not reach process_job: %s", exc)
        return 0


class Sweeper:
    """Calls process_job every ``interval_s`` seconds until stopped."""

    def __init__(self, process_job_url: str, secret: str, interval_s: float = 5.0) -> None:
        self._url = process_job_url
        self._secret = secret
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run(self) -> None:
        """Tick until stopped (blocking)."""
        while not self._stop.wait(self._interval_s):
            sweep_once(self._url, self._secret)


def main() -> None:
    parser = argparse.ArgumentParser(description="invoke process_job on a schedule")
    parser.add_argument("--url", default=os.environ.get("PROCESS_JOB_URL"), required=False)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url or set PROCESS_JOB_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    secret = os.environ.get("PROCESS_JOB_SECRET", os.environ.get("WEBHOOK_SECRET", ""))
    sweeper = Sweeper(args.url, secret, args.interval)
    sweeper.run()


if __name__ == "__main__":
    main()
