"""securemcp: the security core of multi-tenant MCP servers, one subpackage per control.

    http           the HTTP app: Host/Origin, body size, token-in-query and rate limits, sessions
    gate           the tool gate: scopes on every call, idempotency keys, deferred approvals
    approvals      levels in use, questions, pending approvals, decisions, the approval pages
    runtime        the call runtime: the caller, the server's state, the call's unit of work
    audit          append-only hash-chained records, batching, signed checkpoints, verification
    tenancy        the tenant transaction (and Postgres row-level security's setting), reads
    identity       bearer-token verification, signing keys, the person and the tenant
    observability  logs without secrets, request ids, traces and metrics

Each imports only those below it (import-linter's `library-layers` contract); under them all sit the
base modules: `settings`, `policy` (the role policy's rules), `levels`, `errors`, `ids`, `money`,
`pagination`, `untrusted`. The library holds no deployment data: a deployment gives it its role
policy, its servers' names and ports, and its settings.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("securemcp")
except PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"
