"""Structured logs: one JSON object a line, with the job id when the line is about a job."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from functions.env import Settings, Var
from functions.once import PerProcess

LOG_LEVEL = Var(
    "LOG_LEVEL", "The functions' log level (Python's names).", default="INFO", example="DEBUG"
)
K_SERVICE = Var(
    "K_SERVICE",
    "Set by Cloud Run: each log line carries Cloud Logging's severity field.",
    example="process-job",
)


@dataclass(frozen=True)
class LogConfig(Settings):
    READER: ClassVar[str] = "submit, webhook, process_job (logs)"
    READS: ClassVar[tuple[Var, ...]] = (LOG_LEVEL, K_SERVICE)

    level: str
    # Cloud Run (which sets K_SERVICE) passes each JSON line to Cloud Logging, which takes the
    # entry's level from "severity"; elsewhere the line stays as it was.
    severity: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LogConfig:
        return cls(LOG_LEVEL.get(env).upper(), bool(K_SERVICE.get(env)))


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
    cfg = LogConfig.from_env()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(severity=cfg.severity))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level)


_installed = PerProcess(_install)


def configure() -> None:
    """Install the JSON formatter on the root logger, once per process."""
    _installed.get()
