"""Alembic migrations: one branch per server, each one initial revision (`<server>_0001_initial`) to begin with.

A server's first revision creates its own tables (with `securemcp.schema.tenancy`'s row-level security
and grants), then the tables the library reads and writes (`securemcp.schema.tables.create_security_tables`).
Later schema changes are new revisions on the server's branch.
"""

# Where Alembic keeps its version table: apart from every server's schema (`supplychain db init` creates it).
META_SCHEMA = "supplychain_meta"


def initial_revision(server: str) -> str:
    """The revision that starts `server`'s branch."""
    return f"{server}_0001_initial"
