"""Alembic migrations: one branch per server, and the helpers each migration calls."""

# Where Alembic keeps its version table: apart from every server's schema (`supplychain db init` creates it).
META_SCHEMA = "supplychain_meta"
