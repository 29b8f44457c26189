"""Signing keys of the dev authorization server: RSA private keys as PEM files, one per `kid`.

Guarantees:
- keys live in `$SUPPLYCHAIN_HOME/idp/keys/` (directory 0700, files 0600); a key file appears whole
  (written aside, then renamed), so a reader never sees half a key;
- a key is generated on first use; the newest key signs; every key in the directory is published;
- `rotate_keys` adds a new key, keeps the previous one (tokens it signed still verify) and drops any
  older, so at most two keys are published after a rotation;
- a running `KeyRing` notices a rotation by another process at its next use (no restart needed).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from idp.settings import idp_dir, private_dir

ALGORITHM = "RS256"
_SUFFIX = ".pem"


def keys_dir() -> Path:
    """Where the signing keys live."""
    return idp_dir() / "keys"


@dataclass(frozen=True)
class SigningKey:
    """One RSA key pair and its `kid`."""

    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, pinned to RS256 for signatures."""
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        # Only the public numbers: `use` says what the key is for (RFC 7517 §4.3: not with `key_ops`).
        return {"kty": jwk["kty"], "n": jwk["n"], "e": jwk["e"], "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


def _new_kid() -> str:
    # Sortable by age (UTC time first); the random tail keeps two keys made in the same instant apart.
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


def generate_key(directory: Path) -> SigningKey:
    """Create a new key file in `directory` and return the key."""
    private_dir(directory)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = _new_kid()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    staging = directory / f".{kid}.tmp"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    staging.rename(directory / f"{kid}{_SUFFIX}")
    return SigningKey(kid=kid, private_key=key)


def _kids(directory: Path) -> list[str]:
    """The kids present, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(name.removesuffix(_SUFFIX) for name in names if name.endswith(_SUFFIX) and not name.startswith("."))


def _load(directory: Path, kid: str) -> SigningKey:
    key = serialization.load_pem_private_key((directory / f"{kid}{_SUFFIX}").read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"key {kid!r} is not an RSA key")
    return SigningKey(kid=kid, private_key=key)


def rotate_keys(directory: Path | None = None) -> SigningKey:
    """Add a new signing key, keep the previous one, delete any older; return the new key."""
    directory = directory or keys_dir()
    before = _kids(directory)
    new = generate_key(directory)
    for kid in before[:-1]:
        (directory / f"{kid}{_SUFFIX}").unlink(missing_ok=True)
    return new


class KeyRing:
    """The keys in one directory, re-read whenever the set of key files changes."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or keys_dir()
        self._kids: list[str] = []
        self._keys: dict[str, SigningKey] = {}

    def _refresh(self) -> None:
        # Listing one small directory is cheap; comparing names (kids are unique) catches every rotation,
        # where a modification time might not change within the filesystem's timestamp resolution.
        for _attempt in range(3):
            kids = _kids(self.directory)
            if not kids:
                generate_key(self.directory)
                continue
            if kids == self._kids:
                return
            try:
                self._keys = {kid: self._keys.get(kid) or _load(self.directory, kid) for kid in kids}
            except FileNotFoundError:  # a rotation deleted a key between listing and reading: list again
                continue
            self._kids = kids
            return
        raise RuntimeError(f"signing keys in {self.directory} keep changing or cannot be created")

    def signing_key(self) -> SigningKey:
        """The newest key: the one that signs new tokens."""
        self._refresh()
        return self._keys[self._kids[-1]]

    def key(self, kid: str) -> SigningKey | None:
        """The key with this `kid`, if it is still published."""
        self._refresh()
        return self._keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        """Every published key's public half, newest first (RFC 7517 JWK Set)."""
        self._refresh()
        return {"keys": [self._keys[kid].public_jwk() for kid in reversed(self._kids)]}
