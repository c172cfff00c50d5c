"""Loaded at interpreter start by the function processes of tests/stack/test_one_trace.py (this
folder is put first on their PYTHONPATH): the OpenTelemetry SDK, as a deployment would run it,
with each finished span appended at once as one JSON line to $SUPAJOBS_TEST_SPANS. The
functions themselves only use the API."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

_lock = threading.Lock()


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self._path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            context = span.get_span_context()
            assert context is not None
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": f"{context.trace_id:032x}",
                        "span_id": f"{context.span_id:016x}",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "start": span.start_time,
                        "end": span.end_time,
                        "attributes": dict(span.attributes or {}),
                        "links": [f"{link.context.span_id:016x}" for link in span.links],
                        "pid": os.getpid(),
                    }
                )
            )
        with _lock, open(self._path, "a") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS


_path = os.environ.get("SUPAJOBS_TEST_SPANS")
if _path:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(_path)))
    trace.set_tracer_provider(provider)
