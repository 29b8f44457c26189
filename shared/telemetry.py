"""OpenTelemetry for the servers: every call has a trace id; spans and metrics leave only when configured.

- Traces: the `mcp` SDK already opens a SERVER span around every request (`mcp.server._otel`). This
  module installs the OpenTelemetry SDK under it, so each call gets a real trace id (a client's
  `traceparent` in `_meta` is continued), which the audit record keeps (`current_trace_id`). Spans are
  *recorded* only while an exporter is attached: until then the sampler drops them, so the hot path
  pays for two random ids, not for span bookkeeping.
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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from shared.settings import SettingsError

if TYPE_CHECKING:  # the metrics SDK loads only when metrics are exported (it costs every server's start-up)
    from opentelemetry.sdk.metrics.export import MetricReader

OPERATION_DURATION = "mcp.server.operation.duration"
SERVICE_NAME = "supplychain"


class _Switch(Sampler):
    """Drop every span until an exporter is attached, then sample as the SDK's default does."""

    recording = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        chosen = DEFAULT_ON if self.recording else ALWAYS_OFF
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "supplychain: on while an exporter is attached"


_sampler = _Switch()
_tracer_provider: TracerProvider | None = None
_duration: Histogram | None = None
_configured = False


def configure_telemetry(env: Mapping[str, str] | None = None) -> None:
    """Install the SDK once per process and attach the OTLP exporters that `OTEL_*` asks for."""
    global _configured, _tracer_provider
    if _configured:
        return
    _configured = True
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    traces, metrics = exports_signal("TRACES", env), exports_signal("METRICS", env)
    _tracer_provider = TracerProvider(resource=_resource(), sampler=_sampler)
    trace.set_tracer_provider(_tracer_provider)
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
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK, win over this default.
    return Resource.create({"service.name": SERVICE_NAME})


def export_spans(processor: SpanProcessor) -> None:
    """Attach a span processor (an exporter) and start recording spans."""
    configure_telemetry()
    if _tracer_provider is None:
        raise RuntimeError("OpenTelemetry is disabled (OTEL_SDK_DISABLED)")
    _tracer_provider.add_span_processor(processor)
    _sampler.recording = True


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
