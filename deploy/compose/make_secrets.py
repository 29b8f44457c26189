"""Write the secrets files that `compose.yaml` hands to its containers (development and trials).

    uv run python deploy/compose/make_secrets.py --public-host mcp.example.test
    export SECRETS_DIR=$PWD/deploy/compose/secrets PUBLIC_HOST=mcp.example.test

Writes, into `--out` (default `deploy/compose/secrets/`, ignored by git and by the Docker build):

- `postgres_admin_password`: the Postgres superuser's password (Postgres and the `db-init` job only);
- `<server>.dsn`: each server's own DSN, `postgresql://<server>_svc:<password>@postgres:5432/supplychain`.
  `supplychain db init` reuses a password it finds in these files, so the role it creates accepts
  exactly the credential this file gives the server;
- `<server>.request_state_key`: the key the phase 3 replicas of one server share to seal 2026-07-28
  request state (an approval answered on one replica is accepted by the other);
- `ca.pem`, `server.pem`, `server-key.pem`: a throwaway CA and a certificate for the public host name
  and 127.0.0.1 (the containers' health checks), for the phase 2 servers and the phase 3 gateway.

Existing files are kept: the admin password is fixed when Postgres first initialises its volume.
Compose bind-mounts each file as it is on the host, so the files are readable by the containers'
users (0644) and the folder is private to you (0700). Nothing is printed but file names.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import secrets
import sys
from pathlib import Path

import trustme

from deployment.registry import SERVERS
from supplychain.admin import service_role
from supplychain.embedded import APP_DATABASE

DEFAULT_OUT = Path(__file__).resolve().parent / "secrets"
DATABASE_HOST = "postgres:5432"  # the Postgres service of compose.yaml, on each server's data network
HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$")
TLS_FILES = ("ca.pem", "server.pem", "server-key.pem")


def check_public_host(host: str) -> str:
    """A name every container and every client resolves to the same place: never a loopback name.

    Inside a container `localhost` is the container itself, so the servers could not reach the
    authorization server by the issuer URL the clients use.
    """
    if not HOST_NAME.match(host):
        raise ValueError(f"{host!r} is not a host name")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if loopback:
        raise ValueError(f"{host!r} is loopback: inside a container it would name the container itself")
    return host


def _write(path: Path, content: bytes) -> bool:
    """Write `path` unless it exists; True when written."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    path.chmod(0o644)
    return True


def write_secrets(out: Path, public_host: str) -> dict[str, bool]:
    """Write the missing secrets files into `out`; file name -> True when written now, False when kept."""
    check_public_host(public_host)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    out.chmod(0o700)
    written = {"postgres_admin_password": _write(out / "postgres_admin_password", secrets.token_urlsafe(32).encode())}
    for server in SERVERS:
        dsn = f"postgresql://{service_role(server)}:{secrets.token_urlsafe(32)}@{DATABASE_HOST}/{APP_DATABASE}\n"
        written[f"{server}.dsn"] = _write(out / f"{server}.dsn", dsn.encode())
        key = secrets.token_urlsafe(48).encode()  # 64 characters, 48 random bytes
        written[f"{server}.request_state_key"] = _write(out / f"{server}.request_state_key", key)
    if all((out / name).exists() for name in TLS_FILES):
        written |= dict.fromkeys(TLS_FILES, False)
    else:  # the three belong together: a new CA means a new certificate and key
        ca = trustme.CA(organization_name="supplychain-mcp compose dev CA")
        leaf = ca.issue_cert(public_host, "127.0.0.1")
        for name in TLS_FILES:
            (out / name).unlink(missing_ok=True)
        written["ca.pem"] = _write(out / "ca.pem", ca.cert_pem.bytes())
        written["server.pem"] = _write(out / "server.pem", b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        written["server-key.pem"] = _write(out / "server-key.pem", leaf.private_key_pem.bytes())
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--public-host", required=True, help="the name clients use for the Docker host")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        written = write_secrets(args.out.resolve(), args.public_host)
    except ValueError as exc:
        print(f"make_secrets: {exc}", file=sys.stderr)
        return 2
    for name, new in written.items():
        print(f"{'wrote' if new else 'kept '} {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
