"""`supplychain db upgrade-squashed`: a database migrated by the old eight-revision chains, onto the initial revisions.

The squashed revision `<server>_0001_initial` builds exactly what the old chain built once it reached
`<server>_0700` (tests/shared/test_upgrade_squashed.py compares the two, object by object). So a
database at that head needs no DDL: only its version row changes, from `<server>_0700` to
`<server>_0001_initial`. Anywhere else in the old chain, the schema differs from what the row would
then claim, so the command refuses and changes nothing; the same for a revision neither chain knows.
All rows change in one transaction, with the version table locked against a concurrent `db init`.

In the same transaction it brings the library's security tables up to this version where a database
made them before it (`supplychain.security_upgrades`): today, an `audit_log.seq` the server role could
choose. That step also runs on a database already at the initial revisions, and only where needed.
"""

from __future__ import annotations

from sqlalchemy import text

from migrations import initial_revision
from supplychain.admin import OWNER_ROLE, AdminError, admin_engine
from supplychain.revisions import SQUASHED_SERVERS, VERSION_TABLE, applied_revisions, known_revisions, legacy_head
from supplychain.security_upgrades import (
    add_page_sessions,
    draw_seq_by_trigger,
    servers_with_a_choosable_seq,
    servers_without_page_sessions,
)


async def upgrade_squashed(admin_url: str) -> list[str]:
    """Re-stamp each server at its old chain's head onto its initial revision, then bring its security tables
    up to date; one line per version row and per upgraded server.

    Raises `AdminError`, having changed nothing, when a row is anywhere else in the old chain or unknown.
    """
    known = known_revisions()
    heads = {
        legacy_head(server): initial_revision(server)
        for server in SQUASHED_SERVERS
        if initial_revision(server) in known  # a server since removed from this checkout stays as it is
    }
    engine = admin_engine(admin_url).execution_options(isolation_level="READ COMMITTED")
    try:
        async with engine.begin() as conn:
            applied = await applied_revisions(conn)
            if applied is None:
                return ["no migration has run here: nothing to upgrade (`supplychain db init` migrates it)"]
            await conn.execute(text(f"LOCK TABLE {VERSION_TABLE} IN ACCESS EXCLUSIVE MODE"))
            applied = await applied_revisions(conn) or []  # again, now that nobody else can change it
            refused = [_refusal(revision) for revision in applied if revision not in known and revision not in heads]
            if refused:
                raise AdminError(f"db upgrade-squashed: {'; '.join(refused)}; nothing was changed")
            done = []
            for revision in applied:
                if revision in known:
                    done.append(f"{revision}: already on this checkout's revisions")
                    continue
                await conn.execute(
                    text(f"UPDATE {VERSION_TABLE} SET version_num = :new WHERE version_num = :old"),  # noqa: S608
                    {"new": heads[revision], "old": revision},
                )
                done.append(f"{revision} -> {heads[revision]}")
            choosable = await servers_with_a_choosable_seq(conn)
            without_sessions = await servers_without_page_sessions(conn)
            if choosable or without_sessions:
                await conn.execute(text(f"SET LOCAL ROLE {OWNER_ROLE}"))  # the tables' owner, until commit
                done += await draw_seq_by_trigger(conn, choosable)
                done += await add_page_sessions(conn, without_sessions)
            return done
    finally:
        await engine.dispose()


def _refusal(revision: str) -> str:
    server = revision.rsplit("_", 1)[0]
    if server in SQUASHED_SERVERS:
        return (
            f"{server} is at {revision}, not at its old chain's last revision {legacy_head(server)}: "
            "upgrade it with the release before the squash first"
        )
    return f"{revision} is a revision neither chain knows"
