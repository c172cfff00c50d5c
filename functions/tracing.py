"""One trace per job, through the OpenTelemetry API only.

The functions never configure OpenTelemetry: where a deployment sets ``OTEL_*`` variables (an
exporter, an endpoint) and runs the SDK (``opentelemetry-instrument``, the AWS Lambda layer, a
``sitecustomize``), the spans go where those say. Without them the API is not even imported:
``enabled()`` is False, every span here is a no-op, and the cold start pays nothing.

A job's trace context is a W3C ``traceparent``: taken from the submit request (or started by
the submit span), stored with the job (``job_results.traceparent``), and the parent of the
worker's spans for it (claim, attempt, result write). A wake-up is coalesced (one for many
jobs), so its delivery span (webhook) is the parent of the drain that serves it (carried in the
invoke's message, the same for Lambda, HTTP and Cloud Tasks), and each job's claim links to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from functions.core.trace_context import traceparent_of
from functions.env import Settings, Var

__all__ = ["Span", "Tracer", "enabled", "traceparent_of"]
TRACER_NAME = "supajobs"


OTEL_SDK_DISABLED = Var(
    "OTEL_SDK_DISABLED", "OpenTelemetry's switch: true turns every span off.", example="true"
)
OTEL_TRACES_EXPORTER = Var(
    "OTEL_TRACES_EXPORTER",
    "OpenTelemetry's trace exporter (otlp, console); set, the functions trace each job.",
    example="otlp",
)
OTEL_EXPORTER_OTLP_ENDPOINT = Var(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "Where OpenTelemetry sends traces over OTLP; set, the functions trace each job.",
    example="http://127.0.0.1:4318",
)
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = Var(
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTLP's endpoint for traces alone; set, the functions trace each job.",
    example="http://127.0.0.1:4318/v1/traces",
)


@dataclass(frozen=True)
class TraceConfig(Settings):
    """Whether a deployment asked for traces: an exporter or an OTLP endpoint is set (the SDK's
    own variables, which the SDK itself reads for the rest), and the SDK is not switched off."""

    READER: ClassVar[str] = "submit, webhook, process_job (traces)"
    READS: ClassVar[tuple[Var, ...]] = (
        OTEL_SDK_DISABLED,
        OTEL_TRACES_EXPORTER,
        OTEL_EXPORTER_OTLP_ENDPOINT,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    )

    on: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TraceConfig:
        if OTEL_SDK_DISABLED.get(env).lower() == "true":
            return cls(False)
        exporter = OTEL_TRACES_EXPORTER.get(env).lower()
        if exporter == "none":
            return cls(False)
        return cls(
            bool(
                exporter
                or OTEL_EXPORTER_OTLP_ENDPOINT.get(env)
                or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.get(env)
            )
        )


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether a deployment asked for traces (TraceConfig)."""
    return TraceConfig.from_env(env).on


class Span:
    """A span that may be a no-op; ``traceparent`` is its context as a W3C header value."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    @property
    def traceparent(self) -> str | None:
        if self._span is None:
            return None
        context = self._span.get_span_context()
        if not context.is_valid:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"

    def set(self, **attributes: Any) -> None:
        if self._span is not None:
            self._span.set_attributes(
                {f"supajobs.{k}": str(v) for k, v in attributes.items() if v is not None}
            )

    def end(self, end_time_ns: int | None = None) -> None:
        if self._span is not None:
            self._span.end(end_time=end_time_ns)


class Tracer:
    """The functions' spans; every method is a no-op when tracing is off."""

    def __init__(self, on: bool | None = None) -> None:
        self.on = enabled() if on is None else on
        self._api: Any = None
        if self.on:
            from opentelemetry import trace

            self._api = trace

    def current(self) -> str | None:
        """The current span's traceparent (None when off, or outside any span)."""
        if not self.on:
            return None
        return Span(self._api.get_current_span()).traceparent

    def _context(self, traceparent: str | None) -> Any:
        if traceparent is None:
            return None
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        return TraceContextTextMapPropagator().extract({"traceparent": traceparent})

    def _links(self, traceparents: Sequence[str | None]) -> list[Any]:
        links = []
        for traceparent in traceparents:
            context = self._context(traceparent)
            if context is not None:
                span_context = self._api.get_current_span(context).get_span_context()
                if span_context.is_valid:
                    links.append(self._api.Link(span_context))
        return links

    def start(
        self,
        name: str,
        parent: str | None = None,
        *,
        server: bool = False,
        links: Sequence[str | None] = (),
        start_time_ns: int | None = None,
        **attributes: Any,
    ) -> Span:
        """A span child of ``parent`` (a traceparent; None: a new trace), ended by the caller."""
        if not self.on:
            return Span()
        kind = self._api.SpanKind.SERVER if server else self._api.SpanKind.INTERNAL
        span = self._api.get_tracer(TRACER_NAME).start_span(
            name,
            context=self._context(parent),
            kind=kind,
            links=self._links(links),
            start_time=start_time_ns,
        )
        handle = Span(span)
        handle.set(**attributes)
        return handle

    @contextmanager
    def span(
        self, name: str, parent: str | None = None, *, server: bool = False, **attributes: Any
    ) -> Iterator[Span]:
        """A span around the block, current inside it (so log lines carry its ids)."""
        if not self.on:
            yield Span()
            return
        handle = self.start(name, parent, server=server, **attributes)
        with self._api.use_span(handle._span, end_on_exit=True, record_exception=True):
            yield handle
