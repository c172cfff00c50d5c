"""Log lines: JSON where deployed (the job id and, while a span records, the trace and span
ids in every line), text at a local terminal (LOG_FORMAT=text): the ids as tags on the first
line, and a traceback printed as Python prints it, not escaped into a string."""

from __future__ import annotations

import json
import logging
import sys
import uuid

import pytest
from opentelemetry import trace

from functions.logs import JsonFormatter, TextFormatter, formatter

JOB = uuid.UUID("8f3e1c2a-0000-4000-8000-000000000001")


def record(
    message: str, *, job_id: uuid.UUID | None = None, failing: bool = False
) -> logging.LogRecord:
    exc_info = None
    if failing:
        try:
            raise ValueError("bad input")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord(
        "functions.worker", logging.WARNING, __file__, 1, message, (), exc_info
    )
    if job_id is not None:
        made.job_id = job_id
    return made


def test_a_deployed_line_is_one_json_object_with_the_job_id() -> None:
    line = JsonFormatter().format(record("attempt 1 raised", job_id=JOB, failing=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["job_id"] == str(JOB) and entry["level"] == "warning"
    assert "ValueError: bad input" in entry["exception"]


def test_a_local_line_reads_as_text_with_its_traceback_as_a_traceback() -> None:
    text = TextFormatter().format(record("attempt 1 raised", job_id=JOB, failing=True))
    first, *rest = text.splitlines()
    assert first.endswith(f"WARNING functions.worker attempt 1 raised  [job={JOB}]")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: bad input"
    assert not text.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({}, JsonFormatter),
        ({"LOG_FORMAT": "text"}, TextFormatter),
        ({"LOG_FORMAT": "json"}, JsonFormatter),
    ],
)
def test_the_format_follows_the_environment(env: dict[str, str], kind: type) -> None:
    assert type(formatter(env)) is kind


def test_a_recording_span_puts_its_trace_and_span_ids_in_every_line() -> None:
    context = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=trace.TraceFlags(1),
    )
    with trace.use_span(trace.NonRecordingSpan(context)):
        entry = json.loads(JsonFormatter().format(record("claimed", job_id=JOB)))
        text = TextFormatter().format(record("claimed"))
    assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["span_id"] == "00f067aa0ba902b7"
    assert "trace=4bf92f3577b34da6a3ce929d0e0e4736" in text
    assert "trace_id" not in json.loads(JsonFormatter().format(record("outside")))
