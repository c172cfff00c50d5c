"""Log lines on Cloud Run carry the level where Cloud Logging reads it."""

from __future__ import annotations

import json
import logging

from functions.logs import JsonFormatter


def test_log_lines_carry_cloud_loggings_severity_on_cloud_run_only() -> None:
    record = logging.LogRecord("functions.x", logging.WARNING, __file__, 1, "m", None, None)
    on_cloud_run = json.loads(JsonFormatter(severity=True).format(record))
    assert on_cloud_run["severity"] == "WARNING" and on_cloud_run["level"] == "warning"
    assert "severity" not in json.loads(JsonFormatter().format(record))
