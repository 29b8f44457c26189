"""Stand-ins for the tenants' enterprise IdPs, and a dev IdP and inventory server that trust them (ID-JAG tests).

A stand-in (`demo.enterprise_idp`) is NOT a third-party IdP (Okta, Entra ID, ...), which cannot run
here: it is a test RSA key pair whose JWKS a small Starlette app serves over loopback HTTP, and which
signs ID-JAGs with authlib's own `IDJAGGrant.sign`. That is all the dev authorization server sees of a
real one (leg 2 of SEP-990). Its leg-1 exchange (RFC 8693) is demo and test code: authlib has no RFC
8693 server.

Everything else is real: the dev IdP over loopback HTTP (`tests.http.stack.start_idp`) with the stand-ins
configured as `enterprise_idps`, and an inventory server pointed at it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo.enterprise_idp import StandInIdp, enterprise_idps_app
from idp.revocations import revocations_file
from tests.http.stack import Idp, Server, loopback_socket, resource_url, serve, start_idp, start_server
from tests.http.tokens import wait_until_accepting

# acme and globex each sign in at their own IdP; initech's is configured nowhere.
TENANT_IDPS = {"acme": "acme", "globex": "globex"}
UNLISTED = "initech"


@dataclass
class EnterpriseStack:
    """The stand-in IdPs (by tenant, and the unlisted one), the dev IdP that trusts two of them, and inventory."""

    idps: dict[str, StandInIdp]
    idp: Idp
    inventory: Server

    @property
    def issuer(self) -> str:
        return self.idp.issuer


@contextmanager
def enterprise_stack(keys_dir: Path) -> Iterator[EnterpriseStack]:
    """The stand-ins' JWKS on loopback, the dev IdP trusting acme's and globex's, and an inventory server."""
    jwks_sock = loopback_socket()
    base = f"http://127.0.0.1:{jwks_sock.getsockname()[1]}"
    idps = {name: StandInIdp.generate(f"{base}/{name}", f"{name}-1") for name in (*TENANT_IDPS, UNLISTED)}
    served_jwks = serve(enterprise_idps_app(idps), jwks_sock, label="enterprise-idps", lifespan="off")
    inventory_sock = loopback_socket()
    trusted = [
        {"issuer": idps[name].issuer, "tenant": tenant, "jwks_url": f"{idps[name].issuer}/jwks.json"}
        for name, tenant in TENANT_IDPS.items()
    ]
    idp = start_idp(keys_dir, {"inventory": resource_url(inventory_sock.getsockname()[1])}, enterprise_idps=trusted)
    inventory = start_server("inventory", idp.issuer, sock=inventory_sock)
    try:
        wait_until_accepting(idp, inventory)
        yield EnterpriseStack(idps=idps, idp=idp, inventory=inventory)
    finally:
        for served in (inventory.served, idp.served, served_jwks):
            if served.thread.is_alive():
                served.stop()


def issued_to(client_id: str) -> list[str]:
    """The subjects of the access tokens the dev IdP recorded issuing to `client_id` (its SQLite store)."""
    with sqlite3.connect(revocations_file()) as db:
        rows = db.execute("SELECT subject FROM issued WHERE client_id = ? ORDER BY rowid", (client_id,)).fetchall()
    return [str(row[0]) for row in rows]
