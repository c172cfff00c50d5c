"""Structured logs: one JSON object a line, with the job id when the line is about a job."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from functions.once import PerProcess


class JsonFormatter(logging.Formatter):
    def __init__(self, severity: bool = False) -> None:
        super().__init__()
        self._severity = severity

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._severity:
            entry["severity"] = record.levelname  # Cloud Logging's level field
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = str(job_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _install() -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Cloud Run (which sets K_SERVICE) passes each JSON line to Cloud Logging, which takes the
    # entry's level from "severity"; elsewhere the line stays as it was.
    handler.setFormatter(JsonFormatter(severity=bool(os.environ.get("K_SERVICE"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


_installed = PerProcess(_install)


def configure() -> None:
    """Install the JSON formatter on the root logger, once per process."""
    _installed.get()
