"""What `supplychain incident` revokes at the dev authorization server, by what leaked.

- an access token (its `jti`) or a refresh token: its whole grant (every access and refresh token of the
  authorization it came from, and the grant id, which servers then refuse);
- a client: the client is disabled (no secret works until `supplychain idp rotate-client-secret`), and
  every grant it holds is revoked;
- a user: every grant whose tokens name that user.

The dev IdP's persistent store (`idp.revocations`) is written directly: the running IdP sees it at its
next read, and servers within their revocation-list staleness bound.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from idp.revocations import RevocationStore

Kind = Literal["access token", "refresh token", "client", "user", "unknown"]


@dataclass
class Containment:
    """What a revocation covered: the kind of credential, its grants and every token id they minted."""

    kind: Kind
    grants: list[str] = field(default_factory=list)
    token_ids: list[str] = field(default_factory=list)
    client_id: str | None = None
    user_id: str | None = None
    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)


def contain_at_dev_idp(credential: str, *, as_user: bool = False) -> Containment:
    """Revoke what `credential` can reach (see the module docstring) and say what was done."""
    from idp.clients import ClientRegistry, disable_client
    from idp.revocations import RevocationStore

    store = RevocationStore()
    try:
        found = _identify(store, credential, as_user=as_user, known_client=ClientRegistry().get(credential) is not None)
        if found.kind == "client" and disable_client(credential):
            found.done.append(f"client {credential} disabled: no token until `supplychain idp rotate-client-secret`")
        if found.grants:
            revoked = store.revoke_grants(found.grants)
            found.done.append(f"{len(found.grants)} grant(s) revoked ({revoked} unexpired access token(s))")
        found.token_ids = sorted({*store.tokens_of_grants(found.grants), *found.token_ids})
        if found.kind == "client":
            store.revoke_client(credential)  # refresh tokens of the client, recorded or not
        if found.kind == "unknown":
            store.revoke_jti(credential)
            found.not_done.append(f"{credential} is no token, client or user this IdP recorded: listed its id only")
    finally:
        store.close()
    return found


def _identify(store: RevocationStore, credential: str, *, as_user: bool, known_client: bool) -> Containment:
    if as_user:
        return Containment("user", grants=store.grants_of(subject=credential), user_id=credential)
    if (access := store.grant_of_access_token(credential)) is not None:
        grant, client, subject = access
        return Containment("access token", grants=[grant] if grant else [], token_ids=[credential],
                           client_id=client, user_id=subject)  # fmt: skip
    digest = hashlib.sha256(credential.encode()).hexdigest()
    if (refresh := store.grant_of_refresh_token(digest)) is not None:
        grant, client, subject = refresh
        return Containment("refresh token", grants=[grant], client_id=client, user_id=subject)
    if known_client:
        return Containment("client", grants=store.grants_of(client_id=credential), client_id=credential)
    return Containment("unknown", token_ids=[credential])
