"""Logs: one JSON object a line where the functions are deployed, with the job id when the line
is about a job and the trace and span ids when a trace is recording; a line a person reads at a
terminal where they run locally (``LOG_FORMAT=text``, which the local stack sets): the time,
the level, the logger, the message, the ids, and a traceback printed as a traceback."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

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
LOG_FORMAT = Var(
    "LOG_FORMAT",
    "json (one object a line, as deployed) or text (a line a person reads; the local stack's).",
    default="json",
    example="text",
)


@dataclass(frozen=True)
class LogConfig(Settings):
    READER: ClassVar[str] = "submit, webhook, process_job (logs)"
    READS: ClassVar[tuple[Var, ...]] = (LOG_LEVEL, K_SERVICE, LOG_FORMAT)

    level: str
    # Cloud Run (which sets K_SERVICE) passes each JSON line to Cloud Logging, which takes the
    # entry's level from "severity"; elsewhere the line stays as it was.
    severity: bool
    text: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LogConfig:
        return cls(
            LOG_LEVEL.get(env).upper(),
            bool(K_SERVICE.get(env)),
            LOG_FORMAT.get(env).lower() == "text",
        )


def trace_ids() -> dict[str, str]:
    """The current span's trace and span ids (W3C hex), when OpenTelemetry is in use and a
    span is recording. OpenTelemetry is never imported here: a function that does not trace
    pays nothing for it at cold start or per line."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def _ids(record: logging.LogRecord) -> dict[str, str]:
    ids = {}
    job_id = getattr(record, "job_id", None)
    if job_id is not None:
        ids["job_id"] = str(job_id)
    ids.update(trace_ids())
    return ids


class JsonFormatter(logging.Formatter):
    def __init__(self, severity: bool = False) -> None:
        super().__init__()
        self._severity = severity

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._severity:
            entry["severity"] = record.levelname  # Cloud Logging's level field
        entry.update(_ids(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``12:03:04.567 WARNING functions.worker attempt 1 raised [job 8f3e…]`` and, below it,
    the traceback as Python prints it."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        ids = _ids(record)
        tags = " ".join(f"{name.removesuffix('_id')}={value}" for name, value in ids.items())
        line = f"{moment} {record.levelname:<7} {record.name} {record.getMessage()}"
        if tags:
            first, newline, rest = line.partition("\n")
            line = f"{first}  [{tags}]{newline}{rest}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line.rstrip("\n")


def formatter(env: Mapping[str, str] = os.environ) -> logging.Formatter:
    cfg = LogConfig.from_env(env)
    return TextFormatter() if cfg.text else JsonFormatter(severity=cfg.severity)


def _install() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LogConfig.from_env().level)


_installed = PerProcess(_install)


def configure() -> None:
    """Install the formatter on the root logger, once per process."""
    _installed.get()
