"""The Ed25519 keys that sign audit checkpoints (`securemcp.audit.checkpoints`), and the public keys that check them.

The private key is a secret file the database never sees, `$SUPPLYCHAIN_HOME/secrets/<server>.audit-key`
(mode 0600); its public key lies beside it (`<server>.audit-key.pub`). A server process makes the pair
on first start (so does `supplychain db init`); `supplychain audit checkpoint` only loads it: a host
without the key must not sign with a fresh one that `audit verify` would refuse forever.

Each checkpoint names its key (`key`: `key_id`). `audit verify` checks each line with the public key of
that name among every `<server>.audit-key*.pub` file, so a rotation keeps the old checkpoints provable:
rename the old public key to `<server>.audit-key.<date>.pub`, remove the private key, and restart the
server (or run `db init`), which makes the new pair.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from securemcp.settings import SettingsError, secrets_dir


def signing_key_file(server: str) -> Path:
    """`server`'s private checkpoint key (mode 0600); the public key is the same name plus `.pub`."""
    return secrets_dir() / f"{server}.audit-key"


def public_key_file(server: str) -> Path:
    """`server`'s current public checkpoint key."""
    return secrets_dir() / f"{server}.audit-key.pub"


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def ensure_signing_key(server: str) -> Ed25519PrivateKey:
    """`server`'s signing key, made (with its public key) if it does not exist yet."""
    path = signing_key_file(server)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(fresh)
        # Linked into place, never overwritten: two workers starting together both use the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return load_signing_key(server, write_public=True)


def load_signing_key(server: str, *, write_public: bool = False) -> Ed25519PrivateKey:
    """`server`'s signing key; SettingsError when it is missing or its `.pub` file is another key's."""
    path = signing_key_file(server)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SettingsError(
            f"no audit checkpoint key at {path}: run this where {server} runs (its SUPPLYCHAIN_HOME), "
            "or start the server or `supplychain db init` once to make one"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"{path} is not an Ed25519 private key")
    public = public_key_file(server)
    if not public.exists() and write_public:
        pem = serialization.Encoding.PEM
        public.write_bytes(key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    elif public.exists() and _pem_public(public) != key_id(key.public_key()):
        raise SettingsError(
            f"{public} is not the public key of {path}: checkpoints signed now would fail `audit verify`; "
            "restore the matching pair, or rotate (see securemcp/audit/checkpoint_keys.py)"
        )
    return key


def _pem_public(path: Path) -> str | None:
    """The key id of the Ed25519 public key in `path`; None when it holds none."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError:
        return None
    return key_id(key) if isinstance(key, Ed25519PublicKey) else None


def public_keys(server: str) -> dict[str, Ed25519PublicKey]:
    """Every public checkpoint key of `server` (current and retired), by key id."""
    found: dict[str, Ed25519PublicKey] = {}
    for path in sorted(secrets_dir().glob(f"{server}.audit-key*.pub")):
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError:
            continue
        if isinstance(key, Ed25519PublicKey):
            found[key_id(key)] = key
    return found
