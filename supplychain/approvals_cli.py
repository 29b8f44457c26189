"""`supplychain approvals list`: the pending approvals of one server and the page where each is decided.

It decides nothing and impersonates no one: deciding is a signed-in person's act on the server's
approval page (`securemcp.approvals.decisions`). It reads with the operator's admin credential, like `audit verify`,
so it can list every tenant (or one, with `--tenant`).
"""

from __future__ import annotations

from securemcp.approvals.pending import COLUMNS, ApprovalStatus, status_of
from securemcp.settings import approval_url
from sqlalchemy import text

from supplychain.admin import admin_engine
from supplychain.servers import load_settings


async def pending_approvals(admin_url: str, server: str, tenant: str | None) -> list[tuple[str, ApprovalStatus]]:
    """(tenant, approval) for every pending, unexpired approval of `server`, oldest first."""
    query = (
        f"SELECT tenant_id, {COLUMNS} FROM {server}.pending_approvals WHERE status = 'pending' "  # noqa: S608
        "AND expires_at > now() AND (CAST(:tenant AS text) IS NULL OR tenant_id = :tenant) ORDER BY created_at, id"
    )
    engine = admin_engine(admin_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text(query), {"tenant": tenant})).mappings().all()
    finally:
        await engine.dispose()
    return [(row["tenant_id"], status_of({k: v for k, v in row.items() if k != "tenant_id"})) for row in rows]


async def listing(admin_url: str, server: str, tenant: str | None) -> list[str]:
    """What `approvals list` prints, line by line: three lines per pending approval, with its page URL."""
    settings = load_settings(server)
    lines: list[str] = []
    for tenant_id, status in await pending_approvals(admin_url, server, tenant):
        lines += [
            f"{status.approval_id}  {status.level}  {status.tool}  tenant {tenant_id}  requested by "
            f"{status.requested_by}  expires {status.expires_at.isoformat()}",
            f"    {status.summary}",
            f"    decide at {approval_url(settings, status.approval_id, tenant=tenant_id)}",
        ]
    scope = f" for tenant {tenant}" if tenant else ""
    return lines or [f"{server}: no pending approvals{scope}"]
