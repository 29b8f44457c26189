"""Every table, function and grant the library reads and writes in a server schema, in one call."""

from securemcp.schema.approvals import add_incident_columns, add_requester_person, create_pending_approvals
from securemcp.schema.audit_append import create_audit_append_functions
from securemcp.schema.audit_log import allow_void_decisions, create_audit_log
from securemcp.schema.idempotency import create_idempotency_keys
from securemcp.schema.page_sessions import create_page_sessions

SECURITY_TABLES = ("audit_log", "pending_approvals", "idempotency_keys", "page_sessions")
SECURITY_FUNCTIONS = ("audit_log_is_append_only", "audit_log_draws_seq", "audit_chain_heads", "audit_append")


def create_security_tables(schema: str) -> None:
    """The audit trail, pending approvals, idempotency keys and page sessions of `schema`, as this library
    version uses them.

    Run it as the schema's owner inside a migration, after the schema and its role `<schema>_svc` exist.
    """
    create_audit_log(schema)
    create_audit_append_functions(schema)
    create_pending_approvals(schema)
    add_requester_person(schema)
    create_idempotency_keys(schema)
    create_page_sessions(schema)


def complete_older_schema(schema: str) -> None:
    """For a schema made before this version's approval and page-session tables (`supplychain db
    upgrade-squashed` runs it): what `create_security_tables` now makes that such a schema lacks, the
    requester's credential and person on pending approvals, `void` decisions and the page sessions."""
    add_incident_columns(schema)
    allow_void_decisions(schema)
    add_requester_person(schema)
    create_page_sessions(schema)
