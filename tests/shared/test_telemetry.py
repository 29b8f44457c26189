"""OpenTelemetry: each call's audit record names its trace; spans and the duration metric carry the tool and
the outcome, never the tenant. Read with the SDK's own in-memory exporter and metric reader (real SDK parts).

The first test runs before any exporter is attached (the module's order): trace ids exist without export.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from securemcp.observability.telemetry import OPERATION_DURATION, export_metrics, export_spans, exports_signal
from securemcp.settings import SettingsError

from tests.helpers import admin_rows, mcp_client

pytestmark = pytest.mark.usefixtures("seeded")

STOCK = {"sku": "BOLT-M8", "warehouse": "AMS-1"}


async def _last_records(admin_url: str, count: int) -> list[tuple[Any, ...]]:
    rows = await admin_rows(
        admin_url,
        "SELECT tool, outcome, token_id, trace_id, client_address FROM inventory.audit_log ORDER BY seq DESC LIMIT :n",
        n=count,
    )
    return rows[::-1]


async def test_a_record_names_a_trace_even_when_nothing_is_exported(admin_url: str) -> None:
    async with mcp_client("inventory", "alice@acme") as client:
        await client.call_tool("get_stock_level", STOCK)
        await client.call_tool("get_stock_level", STOCK)
    (_, _, token, first, address), (_, _, _, second, _) = await _last_records(admin_url, 2)
    assert token == "local" and address is None  # stdio: no token, no peer
    assert first is not None and second is not None and len(first) == 32 and first != second


async def test_exporters_are_off_unless_otel_variables_configure_them() -> None:
    assert not exports_signal("TRACES", {})
    assert exports_signal("TRACES", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert exports_signal("METRICS", {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:4318/v1/metrics"})
    assert not exports_signal("TRACES", {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:4318/v1/metrics"})
    assert exports_signal("METRICS", {"OTEL_METRICS_EXPORTER": "otlp"})
    assert not exports_signal("TRACES", {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        exports_signal("TRACES", {"OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.fixture(scope="module")
def exported() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    export_spans(SimpleSpanProcessor(spans))
    export_metrics(metrics)
    yield spans, metrics
    spans.shutdown()
    metrics.shutdown()


def _duration_points(metrics: InMemoryMetricReader) -> list[Any]:
    data = metrics.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == OPERATION_DURATION
        for point in metric.data.data_points
    ]


async def test_a_call_gives_its_span_its_metric_and_its_trace_id_to_the_record(
    admin_url: str, exported: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    spans, metrics = exported
    spans.clear()
    async with mcp_client("inventory", "alice@acme") as client:
        await client.call_tool("get_stock_level", STOCK)
        await client.call_tool("get_stock_level", {"sku": "NO-SUCH-SKU", "warehouse": "AMS-1"})
        # An unknown tool is the JSON-RPC error -32602; it is still measured and recorded as refused.
        with pytest.raises(MCPError, match="Unknown tool"):
            await client.call_tool("no_such_tool", {})
    records = await _last_records(admin_url, 3)
    assert [(tool, outcome) for tool, outcome, *_ in records] == [
        ("get_stock_level", "ok"), ("get_stock_level", "error"), ("no_such_tool", "refused"),
    ]  # fmt: skip
    calls = [span for span in spans.get_finished_spans() if span.name.startswith("tools/call")]
    assert [span.name for span in calls] == [
        "tools/call get_stock_level", "tools/call get_stock_level", "tools/call no_such_tool",
    ]  # fmt: skip
    assert all(span.kind == SpanKind.SERVER for span in calls)
    # The audit record and the span name the same trace: a trace found in a backend leads to its record.
    assert [trace_id for *_, trace_id, _ in records] == [format(span.context.trace_id, "032x") for span in calls]

    points = {
        (point.attributes["gen_ai.tool.name"], point.attributes["supplychain.outcome"]): point
        for point in _duration_points(metrics)
    }
    assert {("get_stock_level", "ok"), ("get_stock_level", "error"), ("unknown", "refused")} <= set(points)
    assert points[("get_stock_level", "error")].attributes["error.type"] == "error"
    assert points[("get_stock_level", "ok")].count >= 1
    for point in points.values():
        assert point.attributes["mcp.method.name"] == "tools/call"
        # Never the tenant, the user or the token as a label: unbounded, and the audit trail's job.
        assert not any("tenant" in key or "user" in key or "token" in key for key in point.attributes)
        assert not {"acme", "globex", "alice@acme", "local"} & {str(value) for value in point.attributes.values()}
