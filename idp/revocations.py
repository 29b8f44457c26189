"""Revoked access tokens, kept on disk so that a restart does not bring them back.

The file is `$SUPPLYCHAIN_HOME/idp/revocations.sqlite3` (0600, SQLite in WAL mode), shared by the
running dev authorization server and any command that revokes (`revoke_jti`, `revoke_client_tokens`),
so an operator can revoke while the server runs, or while it is down.

Guarantees:
- every access token the issuer signs is recorded (`jti`, client, expiry) before it is handed out;
- a revoked `jti` stays on the revocation list until its token expires, across restarts;
- revoking a client revokes every unexpired access token recorded for it, and every refresh token it
  was issued before that moment (`client_revoked_at`), for as long as such a refresh token could live;
- every token carries the id of the grant it came from (`grant_id`: one authorization and its refresh
  tokens, one client secret, or one `supplychain idp token` mint); revoking a grant revokes every access
  token recorded for it and refuses its refresh tokens, and the grant id itself is published (servers
  refuse any token of that grant, and void its pending approvals when they would run);
- refresh tokens are recorded by SHA-256 digest with their grant, so another process can name the grant
  of a leaked refresh token;
- a revocation written by another process is seen at the next read (SQLite's `data_version`);
- an enterprise ID-JAG (`idp.id_jag`) is good once: its issuer and `jti` are kept until it expires, so a
  replay is refused across restarts and by a second process sharing this file.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from idp.settings import idp_dir, private_dir

MAX_ACCESS_TOKEN_SECONDS = 900  # the longest access token lifetime the settings allow
CLIENT_RULE_SECONDS = 8 * 3600  # the refresh token lifetime (idp.store)
# A grant outlives its last token by at most this: its refresh tokens, then one access token minted at the end.
GRANT_RULE_SECONDS = CLIENT_RULE_SECONDS + MAX_ACCESS_TOKEN_SECONDS
_SCHEMA = """
CREATE TABLE IF NOT EXISTS issued (jti TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
                                   grant_id TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS issued_by_client ON issued (client_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (digest TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL,
                                           subject TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_clients (client_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL,
                                            until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_grants (grant_id TEXT PRIMARY KEY, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS used_assertions (issuer TEXT NOT NULL, jti TEXT NOT NULL, until INTEGER NOT NULL,
                                            PRIMARY KEY (issuer, jti));
"""
# Files written before grants were recorded lack these columns (SQLite cannot add them IF NOT EXISTS).
_ADDED_COLUMNS = {"grant_id": "TEXT NOT NULL DEFAULT ''", "subject": "TEXT NOT NULL DEFAULT ''"}


def revocations_file() -> Path:
    """Where revocations are kept."""
    return idp_dir() / "revocations.sqlite3"


class RevocationStore:
    """Issued and revoked access token ids, and revoked clients, in one SQLite file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or revocations_file()
        private_dir(self.path.parent)
        if not self.path.exists():  # created 0600 before SQLite opens it
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        # One event loop uses it at a time, but not always the thread that opened it (tests serve in threads).
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(issued)")}
        for column, declaration in _ADDED_COLUMNS.items():
            if column not in present:
                self._db.execute(f"ALTER TABLE issued ADD COLUMN {column} {declaration}")
        self._cache: dict[str, int] | None = None
        self._grants_cache: frozenset[str] | None = None
        self._seen_version = -1
        self._purged_at = 0.0

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def record_issued(self, jti: str, client_id: str, expires_at: int, *, grant_id: str, subject: str) -> None:
        """Remember an access token as it is issued, so its grant, client or subject can be revoked later."""
        self._write(
            "INSERT OR REPLACE INTO issued (jti, client_id, expires_at, grant_id, subject) VALUES (?, ?, ?, ?, ?)",
            (jti, client_id, expires_at, grant_id, subject),
        )

    def record_refresh_token(
        self, digest: str, *, grant_id: str, client_id: str, subject: str, expires_at: int
    ) -> None:
        """Remember a refresh token's digest and grant, so a leaked refresh token names the grant to revoke."""
        self._write(
            "INSERT OR REPLACE INTO refresh_tokens VALUES (?, ?, ?, ?, ?)",
            (digest, grant_id, client_id, subject, expires_at),
        )

    def use_assertion(self, issuer: str, jti: str, *, until: int) -> bool:
        """Record an assertion as used until `until`; False when it was used before (a replay)."""
        with self._transaction():  # one statement decides: two processes cannot both see it unused
            cursor = self._db.execute("INSERT OR IGNORE INTO used_assertions VALUES (?, ?, ?)", (issuer, jti, until))
        return cursor.rowcount == 1

    def grant_of_access_token(self, jti: str) -> tuple[str, str, str] | None:
        """(grant id, client id, subject) of an access token this issuer recorded, if any."""
        row = self._db.execute("SELECT grant_id, client_id, subject FROM issued WHERE jti = ?", (jti,)).fetchone()
        return (str(row[0]), str(row[1]), str(row[2])) if row else None

    def grant_of_refresh_token(self, digest: str) -> tuple[str, str, str] | None:
        """(grant id, client id, subject) of the refresh token with this SHA-256 digest, if recorded."""
        row = self._db.execute(
            "SELECT grant_id, client_id, subject FROM refresh_tokens WHERE digest = ?", (digest,)
        ).fetchone()
        return (str(row[0]), str(row[1]), str(row[2])) if row else None

    def grants_of(self, *, client_id: str | None = None, subject: str | None = None) -> list[str]:
        """The grant ids recorded for a client or a subject (access and refresh tokens alike)."""
        column, value = ("client_id", client_id) if client_id is not None else ("subject", subject)
        rows = self._db.execute(
            f"SELECT grant_id FROM issued WHERE {column} = ? AND grant_id != '' "  # noqa: S608
            f"UNION SELECT grant_id FROM refresh_tokens WHERE {column} = ?",
            (value, value),
        ).fetchall()
        return sorted(str(row[0]) for row in rows)

    def tokens_of_grants(self, grant_ids: list[str]) -> list[str]:
        """Every access token id recorded for these grants (kept as long as a grant can live)."""
        marks = ", ".join("?" * len(grant_ids))
        rows = self._db.execute(f"SELECT jti FROM issued WHERE grant_id IN ({marks})", grant_ids).fetchall()  # noqa: S608
        return sorted(str(row[0]) for row in rows)

    def revoke_grants(self, grant_ids: list[str]) -> int:
        """Revoke these grants: their access tokens, their refresh tokens, and the grant ids themselves.

        Returns the number of unexpired access tokens revoked.
        """
        now = int(time.time())
        marks = ", ".join("?" * len(grant_ids))
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR REPLACE INTO revoked SELECT jti, expires_at FROM issued "  # noqa: S608
                f"WHERE grant_id IN ({marks}) AND expires_at > ?",
                (*grant_ids, now),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO revoked_grants VALUES (?, ?)",
                [(grant_id, now + GRANT_RULE_SECONDS) for grant_id in grant_ids],
            )
        return cursor.rowcount

    def is_grant_revoked(self, grant_id: str) -> bool:
        """True when every token of this grant is revoked."""
        return grant_id in self.revoked_grants()

    def revoked_grants(self) -> frozenset[str]:
        """The ids of revoked grants that could still have live tokens."""
        self._revoked()  # purges, and notices another process's writes
        if self._grants_cache is None:
            rows = self._db.execute("SELECT grant_id FROM revoked_grants WHERE until > ?", (int(time.time()),))
            self._grants_cache = frozenset(str(row[0]) for row in rows)
        return self._grants_cache

    def revoke(self, jti: str, expires_at: int) -> None:
        """Put one access token on the revocation list until it expires."""
        self._write("INSERT OR REPLACE INTO revoked VALUES (?, ?)", (jti, expires_at))

    def revoke_many(self, tokens: dict[str, int]) -> None:
        """Revoke several access tokens (`jti` → expiry) at once."""
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO revoked VALUES (?, ?)", tokens.items())

    def revoke_jti(self, jti: str) -> bool:
        """Revoke the access token with this `jti`; True if this issuer recorded issuing it.

        An unknown `jti` is listed anyway, for the longest lifetime a token can have.
        """
        row = self._db.execute("SELECT expires_at FROM issued WHERE jti = ?", (jti,)).fetchone()
        self.revoke(jti, row[0] if row else int(time.time()) + MAX_ACCESS_TOKEN_SECONDS)
        return row is not None

    def revoke_client(self, client_id: str) -> int:
        """Revoke every token issued to `client_id` so far; the number of unexpired access tokens revoked."""
        now = time.time()
        with self._transaction():
            cursor = self._db.execute(
                "INSERT OR REPLACE INTO revoked "
                "SELECT jti, expires_at FROM issued WHERE client_id = ? AND expires_at > ?",
                (client_id, int(now)),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO revoked_clients VALUES (?, ?, ?)",
                (client_id, now, int(now) + CLIENT_RULE_SECONDS),
            )
        return cursor.rowcount

    def client_revoked_at(self, client_id: str) -> float | None:
        """When every token of `client_id` was last revoked (tokens issued before then are dead), if ever."""
        row = self._db.execute("SELECT revoked_at FROM revoked_clients WHERE client_id = ?", (client_id,)).fetchone()
        return float(row[0]) if row else None

    def is_revoked(self, jti: str) -> bool:
        """True when this access token id is on the revocation list."""
        return jti in self._revoked()

    def revoked_jtis(self) -> list[str]:
        """The ids of revoked access tokens that have not expired yet."""
        return sorted(self._revoked())

    def _revoked(self) -> dict[str, int]:
        now = time.time()
        if now - self._purged_at >= 60:  # the list is read every second by each server: purge seldom
            self._purged_at = now
            with self._transaction():
                # Issued tokens are kept as long as their grant can live: an incident lists a grant's calls.
                self._db.execute("DELETE FROM issued WHERE expires_at <= ?", (int(now) - GRANT_RULE_SECONDS,))
                for table in ("revoked", "refresh_tokens"):
                    self._db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (int(now),))  # noqa: S608
                for table in ("revoked_clients", "revoked_grants", "used_assertions"):
                    self._db.execute(f"DELETE FROM {table} WHERE until <= ?", (int(now),))  # noqa: S608
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if self._cache is None or version != self._seen_version:  # another process wrote
            rows = self._db.execute("SELECT jti, expires_at FROM revoked").fetchall()
            self._cache, self._seen_version, self._grants_cache = dict(rows), version, None
        return {jti: exp for jti, exp in self._cache.items() if exp > now}

    def _write(self, sql: str, values: tuple[object, ...]) -> None:
        with self._transaction():
            self._db.execute(sql, values)

    def _transaction(self) -> _Transaction:
        self._cache = self._grants_cache = None  # our own writes do not change data_version
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def revoke_jti(jti: str) -> bool:
    """Revoke one access token by its `jti` in the persistent store; True if this issuer issued it."""
    store = RevocationStore()
    try:
        return store.revoke_jti(jti)
    finally:
        store.close()


def revoke_client_tokens(client_id: str) -> int:
    """Revoke every access and refresh token issued so far to `client_id`; the number of access tokens revoked."""
    store = RevocationStore()
    try:
        return store.revoke_client(client_id)
    finally:
        store.close()
