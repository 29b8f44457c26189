"""Logs, request ids, traces and metrics, with no secret in any of them.

Public names: `logs.configure_logging`, `logs.redact`, `request_id.RequestContextMiddleware`,
`request_id.current_request_id`, `telemetry.configure_telemetry`, `telemetry.record_tool_call`.

Guarantees: tokens, passwords and DSNs are redacted from every log line; client-supplied request
ids are bounded and sanitised; metrics carry only registered tool names, so a client cannot mint
label values; nothing is exported unless OTEL_* settings ask for it.
"""
