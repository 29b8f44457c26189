"""`supplychain dev-certs`: a local certificate authority and a loopback server certificate.

For development only. Point clients at `ca.pem` to trust the servers; never reuse these files
outside this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import trustme
from securemcp.settings import home_dir


def certs_dir() -> Path:
    """Where the dev CA and certificates live."""
    return home_dir() / "certs"


def write_dev_certificates() -> dict[str, Path]:
    """Create (or replace) the CA and a server certificate for 127.0.0.1, localhost and ::1."""
    folder = certs_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = trustme.CA(organization_name="supplychain-mcp dev CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    paths = {"ca": folder / "ca.pem", "certificate": folder / "server.pem", "key": folder / "server-key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    with paths["certificate"].open("wb") as chain:
        for pem in leaf.cert_chain_pems:
            chain.write(pem.bytes())
    descriptor = os.open(paths["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key:
        key.write(leaf.private_key_pem.bytes())
    return paths
