"""OpenTelemetry for the servers: every call has a trace id; spans and metrics leave only when configured.

- Traces: the `mcp` SDK already opens a SERVER span around every request (`mcp.server._otel`). This
  module installs a tracer provider under it, so each call gets a real trace id (a client's
  `traceparent` in `_meta` is continued), which the audit record keeps (`current_trace_id`). Until an
  exporter is attached, its spans are non-recording spans that carry only their ids, and the
  OpenTelemetry SDK is not even imported (2.5 MB of memory and about 0.1 s of start-up, measured in
  measured by `supplychain bench`); attaching an exporter loads the SDK and records from then on.
- Metrics: one histogram under the MCP semantic-convention name `mcp.server.operation.duration`
  (seconds) per `tools/call`, with `mcp.method.name`, `gen_ai.tool.name` (only names the server
  registered, else `unknown`, so a client cannot mint label values) and `supplychain.outcome`
  (`ok`, `refused`, `error`; `error.type` repeats it on failures). Never the tenant, the user or the
  token: those are unbounded, and they are what the audit trail is for. With no exporter, nothing is
  recorded at all.
- Configuration is the standard `OTEL_*` variables, read once per process, but **off unless set**
  (the SDK's own default would try `localhost:4318`): a signal exports over OTLP/HTTP when
  `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` is `otlp`, or, left unset, when
  `OTEL_EXPORTER_OTLP_ENDPOINT` or the signal's own `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`
  is. `none` turns a signal off; any other exporter name stops start-up. `OTEL_SDK_DISABLED=true`
  installs nothing (records then carry no trace id).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram
from opentelemetry.trace import (
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    Tracer,
    TracerProvider,
)
from opentelemetry.util.types import Attributes

from securemcp.settings import SettingsError

if TYPE_CHECKING:  # the SDK loads only when something is exported (it costs every server's start-up)
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

OPERATION_DURATION = "mcp.server.operation.duration"
SERVICE_NAME = "supplychain"


class _IdsOnlyTracer(Tracer):
    """Spans that carry ids and record nothing, until an exporter hands the work to the SDK's tracer."""

    def __init__(self, name: str, version: str | None, schema_url: str | None) -> None:
        self._identity = (name, version, schema_url)
        self._recording: Tracer | None = None

    def _sdk(self) -> Tracer | None:
        if self._recording is None and _sdk_provider is not None:
            self._recording = _sdk_provider.get_tracer(*self._identity)
        return self._recording

    def start_span(self, name: str, context: Context | None = None, *args: Any, **kwargs: Any) -> trace.Span:
        """A recording span once exporting, else a span with a trace id (the parent's, or a new one)."""
        recording = self._sdk()
        if recording is not None:
            return recording.start_span(name, context, *args, **kwargs)
        parent = trace.get_current_span(context).get_span_context()
        return NonRecordingSpan(
            SpanContext(
                trace_id=parent.trace_id if parent.is_valid else _new_id(128, INVALID_TRACE_ID),
                span_id=_new_id(64, INVALID_SPAN_ID),
                is_remote=False,
                trace_flags=parent.trace_flags if parent.is_valid else TraceFlags(TraceFlags.DEFAULT),
                trace_state=parent.trace_state if parent.is_valid else None,
            )
        )

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # the API's decorator type is private
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Iterator[trace.Span]:
        """`start_span`, made the current span for the block."""
        recording = self._sdk()
        if recording is not None:
            with recording.start_as_current_span(name, context, *args, **kwargs) as span:
                yield span
            return
        with trace.use_span(self.start_span(name, context), end_on_exit=kwargs.get("end_on_exit", True)) as span:
            yield span


class _Provider(TracerProvider):
    """The process's tracer provider: ids only, until `export_spans` attaches the SDK."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> Tracer:
        return _IdsOnlyTracer(instrumenting_module_name, instrumenting_library_version, schema_url)


def _new_id(bits: int, invalid: int) -> int:
    value = invalid
    while value == invalid:  # as the SDK's RandomIdGenerator: never the all-zero id
        value = random.getrandbits(bits)
    return value


_sdk_provider: SdkTracerProvider | None = None
_duration: Histogram | None = None
_configured = False


def configure_telemetry(env: Mapping[str, str] | None = None) -> None:
    """Install the SDK once per process and attach the OTLP exporters that `OTEL_*` asks for."""
    global _configured
    if _configured:
        return
    _configured = True
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    traces, metrics = exports_signal("TRACES", env), exports_signal("METRICS", env)
    trace.set_tracer_provider(_Provider())
    if traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        export_spans(BatchSpanProcessor(OTLPSpanExporter()))
    if metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        export_metrics(PeriodicExportingMetricReader(OTLPMetricExporter()))


def exports_signal(signal: str, env: Mapping[str, str]) -> bool:
    """True when `OTEL_*` in `env` asks to export `signal` (TRACES or METRICS) over OTLP (module docstring)."""
    exporter = env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower()
    if exporter in ("otlp", "none"):
        return exporter == "otlp"
    if exporter:
        raise SettingsError(f"OTEL_{signal}_EXPORTER={exporter!r}: only 'otlp' or 'none' are supported")
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))


def _resource() -> Resource:
    from opentelemetry.sdk.resources import Resource

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK, win over this default.
    return Resource.create({"service.name": SERVICE_NAME})


def export_spans(processor: SpanProcessor) -> None:
    """Attach a span processor (an exporter) and start recording spans."""
    global _sdk_provider
    configure_telemetry()
    if not isinstance(trace.get_tracer_provider(), _Provider):
        raise RuntimeError("OpenTelemetry is disabled (OTEL_SDK_DISABLED)")
    if _sdk_provider is None:
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

        _sdk_provider = SdkTracerProvider(resource=_resource())
    _sdk_provider.add_span_processor(processor)


def export_metrics(reader: MetricReader) -> None:
    """Record the per-tool duration histogram and hand it to `reader` (an exporter or an in-memory one)."""
    global _duration
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider(resource=_resource(), metric_readers=[reader])
    _duration = provider.get_meter("supplychain").create_histogram(
        OPERATION_DURATION,
        unit="s",
        description="MCP request duration as observed on the server, from receipt until the result is sent.",
    )


def current_trace_id() -> str | None:
    """The trace id of the span being served (32 hex digits), or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.trace_id else None


def record_tool_call(tool: str, outcome: str, seconds: float) -> None:
    """Add one `tools/call` to the duration histogram (nothing when metrics are not exported)."""
    if _duration is None:
        return
    attributes = {"mcp.method.name": "tools/call", "gen_ai.tool.name": tool, "supplychain.outcome": outcome}
    if outcome != "ok":
        attributes["error.type"] = outcome
    _duration.record(seconds, attributes)
