"""Structured logs: one JSON object a line, with the job id when the line is about a job."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from functions.once import PerProcess


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = str(job_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _install() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


_installed = PerProcess(_install)


def configure() -> None:
    """Install the JSON formatter on the root logger, once per process."""
    _installed.get()
