"""Phase 2 and 3 hardening: the HTTP app in front of the MCP endpoint and the approval pages.

Public names: `app.build_http_app`, `app.Issuer`, `gate.HttpGate`, `guards.HostOriginGuard`,
`guards.TokenInQueryGuard`, `sessions.SessionQuota`, `standalone_pages.serve_pages`.

Guarantees: Host and Origin allow-lists; plain HTTP only on loopback or behind a TLS gateway; a
token in a query string is refused; bodies over the limit and callers over their tenant's rate are
refused before the MCP layer; sessions are bound to their user and capped per tenant and per user;
401/403 answers carry the RFC 6750 challenge with the RFC 9728 metadata address.
"""
