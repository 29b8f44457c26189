"""The trusted-issuers file: TOML, one `[[issuer]]` table per issuer, read strictly.

```toml
[[issuer]]
issuer = "https://login.microsoftonline.com/9f8e.../v2.0"
tenants = ["acme"]                    # or `tenant = "acme"`; exactly one unless `tenant_claim` is set
audience = "api://supplychain-inventory"
[issuer.claims]
person = "oid"
scopes = "scp"
roles = "groups"
role_table = { "5b7c..." = "supply_chain_manager" }
[issuer.approvals]                    # optional: the approval pages' client at this issuer
client_id = "supplychain-approval-pages"
client_secret_file = "secrets/entra-pages-secret"   # relative to this file's folder
```

Keys of `[[issuer]]`: `issuer`, `tenant` or `tenants`, `jwks_url`, `audience`, `algorithms`, `tenant_claim`,
`tenant_table`, `revocation`, `claims`, `approvals`; keys of `claims`: `person`, `scopes`, `roles`,
`role_table`; keys of `approvals`: `client_id`, `client_secret_file` (a secret is never written in this file).

Any mistake stops the start with one line, `<file>:<line>: <what is wrong>`: an unknown key, a wrong type,
an issuer listed twice, a tenant claimed by two issuers, a malformed tenant id, a `tenant_claim` without a
`tenant_table` on a one-tenant issuer (its issuer already decides the tenant), a multi-tenant issuer without
a `tenant_claim`, a table naming a tenant the issuer does not speak for, a role the policy does not define,
an `approvals` table without a `client_id`, or whose secret file cannot be read or is empty.
tomllib reports no line for a key, so the line is found in the text (`_Lines`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from securemcp.identity.issuers import ClaimMapping, PagesClient, TrustedIssuer, TrustedIssuers
from securemcp.identity.keys import ALLOWED_ALGORITHMS
from securemcp.identity.principal import TENANT_ID_PATTERN
from securemcp.policy import RolePolicy
from securemcp.settings import ServerSettings, SettingsError, check_person_claim

ISSUER_KEYS = frozenset({
    "issuer", "tenant", "tenants", "jwks_url", "audience", "algorithms", "tenant_claim", "tenant_table",
    "revocation", "claims", "approvals",
})  # fmt: skip
CLAIMS_KEYS = frozenset({"person", "scopes", "roles", "role_table"})
APPROVALS_KEYS = frozenset({"client_id", "client_secret_file"})
_URL = re.compile(r"^https?://[\x21-\x7e]+$")
_CLAIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]{0,63}$")
_ROLES_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]{0,63}(\.[A-Za-z_][A-Za-z0-9_:-]{0,63}){0,3}$")
_TABLE_VALUE = re.compile(r"^[\x21-\x7e]{1,255}$")


class _Lines:
    """Finds the line of a key of the n-th `[[issuer]]` table in the file's text (1-based)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.starts = [i for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*issuer\s*\]\]", line)]

    def of(self, index: int, key: str | None = None, *, within: str | None = None) -> int:
        """The line of `key` in issuer `index` (in its `within` sub-table if given), else the table's header."""
        if index >= len(self.starts):
            return 1
        start = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        if key is None:
            return start + 1
        pattern = re.compile(rf'\s*("?){re.escape(key)}\1\s*=')
        sub_start = start
        if within is not None:  # a dotted path below the issuer: `claims`, `claims.role_table`
            dotted = r"\s*\.\s*".join(re.escape(part) for part in within.split("."))
            header = re.compile(rf"\s*\[\s*issuer\s*\.\s*{dotted}\s*\]")
            sub_start = next((i for i in range(start, end) if header.match(self.lines[i])), start)
            last = within.split(".")[-1]
            inline = re.compile(rf'\s*{re.escape(last)}\s*=.*("?){re.escape(key)}\1\s*=')
            hit = next((i for i in range(start, end) if inline.match(self.lines[i])), None)
            if hit is not None:
                return hit + 1
        hit = next((i for i in range(sub_start, end) if pattern.match(self.lines[i])), None)
        return (hit if hit is not None else sub_start) + 1  # a missing key: the header of its table


class _Fault(Exception):
    def __init__(self, message: str, key: str | None = None, within: str | None = None) -> None:
        super().__init__(message)
        self.key, self.within = key, within


def load_trusted_issuers(path: Path, *, policy: RolePolicy | None = None) -> TrustedIssuers:
    """The trusted issuers of the file at `path`; `SettingsError` naming the file and line at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"{path}: cannot read the trusted issuers file ({error.strerror})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"at line (\d+)", str(error))
        raise SettingsError(f"{path}:{line.group(1) if line else 1}: {error}") from None
    lines = _Lines(text)
    unknown = sorted(set(document) - {"issuer"})
    if unknown or not isinstance(document.get("issuer"), list) or not document["issuer"]:
        at = next((i + 1 for i, line in enumerate(lines.lines) if unknown and line.strip().startswith(unknown[0])), 1)
        raise SettingsError(f"{path}:{at}: expected one or more [[issuer]] tables and nothing else")
    issuers: list[TrustedIssuer] = []
    seen_urls: dict[str, int] = {}
    seen_tenants: dict[str, int] = {}
    for index, table in enumerate(document["issuer"]):
        try:
            issuer = _issuer(table, policy, folder=path.parent)
            if issuer.issuer in seen_urls:
                raise _Fault(f"issuer {issuer.issuer!r} listed twice (first at line {seen_urls[issuer.issuer]})",
                             "issuer")  # fmt: skip
            for tenant in sorted(issuer.tenants or ()):
                if tenant in seen_tenants:
                    key = "tenants" if "tenants" in table else "tenant"
                    raise _Fault(f"tenant {tenant!r} is already spoken for by the issuer at line "
                                 f"{seen_tenants[tenant]}", key)  # fmt: skip
        except _Fault as fault:
            raise SettingsError(f"{path}:{lines.of(index, fault.key, within=fault.within)}: {fault}") from None
        seen_urls[issuer.issuer] = lines.of(index)
        seen_tenants.update(dict.fromkeys(issuer.tenants or (), lines.of(index)))
        issuers.append(issuer)
    return TrustedIssuers(issuers)


def _issuer(table: Mapping[str, Any], policy: RolePolicy | None, *, folder: Path) -> TrustedIssuer:
    for key in table:
        if key not in ISSUER_KEYS:
            raise _Fault(f"unknown key {key!r} in [[issuer]]; known: {', '.join(sorted(ISSUER_KEYS))}", key)
    url = _string(table, "issuer", _URL, required=True)
    assert url is not None  # required: `_string` raised otherwise
    tenants = _tenants(table)
    tenant_claim = _string(table, "tenant_claim", _CLAIM_NAME)
    tenant_table = _table(table, "tenant_table")
    if tenant_table is not None and tenant_claim is None:
        raise _Fault("tenant_table without a tenant_claim", "tenant_table")
    if len(tenants) == 1 and tenant_claim is not None and tenant_table is None:
        raise _Fault("tenant_claim on a one-tenant issuer: its issuer decides the tenant (a tenant_table may "
                     "still check a shared issuer's claim, Google's `hd`)", "tenant_claim")  # fmt: skip
    if len(tenants) > 1 and tenant_claim is None:
        raise _Fault(f"an issuer of {len(tenants)} tenants needs a tenant_claim", "tenants")
    for value, tenant in (tenant_table or {}).items():
        if tenant not in tenants:
            raise _Fault(f"tenant_table maps {value!r} to {tenant!r}, not one of this issuer's tenants", value,
                         "tenant_table")  # fmt: skip
    algorithms = table.get("algorithms")
    if algorithms is not None and (
        not isinstance(algorithms, list) or not algorithms or not set(algorithms) <= set(ALLOWED_ALGORITHMS)
    ):
        raise _Fault(f"algorithms must be a non-empty list of {', '.join(ALLOWED_ALGORITHMS)}", "algorithms")
    revocation = table.get("revocation")
    if revocation not in (None, "list", "none"):
        raise _Fault('revocation must be "list" or "none"', "revocation")
    return TrustedIssuer(
        issuer=url,
        tenants=frozenset(tenants),
        jwks_url=_string(table, "jwks_url", _URL),
        audience=_string(table, "audience", _TABLE_VALUE),
        claims=_claims(table.get("claims", {}), policy),
        algorithms=frozenset(algorithms) if algorithms is not None else None,
        tenant_claim=tenant_claim,
        tenant_table=tenant_table,
        revocation=revocation,
        approvals=_pages_client(table.get("approvals"), folder),
    )


def _tenants(table: Mapping[str, Any]) -> list[str]:
    if "tenant" in table and "tenants" in table:
        raise _Fault("give `tenant` or `tenants`, not both", "tenants")
    key = "tenants" if "tenants" in table else "tenant"
    value = table.get(key)
    tenants = [value] if key == "tenant" and isinstance(value, str) else value
    if not isinstance(tenants, list) or not tenants:
        raise _Fault('each issuer names its tenant (`tenant = "acme"`) or tenants (a non-empty list)', key)
    for tenant in tenants:
        if not isinstance(tenant, str) or not TENANT_ID_PATTERN.fullmatch(tenant):
            raise _Fault(f"malformed tenant id {tenant!r} (a lowercase letter, then 1-62 of a-z, 0-9, '-')", key)
    if len(set(tenants)) != len(tenants):
        raise _Fault("a tenant listed twice", key)
    return tenants


def _claims(table: Any, policy: RolePolicy | None) -> ClaimMapping:
    if not isinstance(table, dict):
        raise _Fault("claims must be a table", "claims")
    for key in table:
        if key not in CLAIMS_KEYS:
            raise _Fault(f"unknown key {key!r} in [issuer.claims]; known: {', '.join(sorted(CLAIMS_KEYS))}", key,
                         "claims")  # fmt: skip
    person = table.get("person", "sub")
    try:
        check_person_claim(person if isinstance(person, str) else "")
    except ValueError as error:
        raise _Fault(str(error).replace("PERSON_CLAIM", "person"), "person", "claims") from None
    scopes = table.get("scopes", "scope")
    if scopes not in ("scope", "scp"):
        raise _Fault('scopes must be "scope" or "scp"', "scopes", "claims")
    roles = table.get("roles", "roles")
    if not isinstance(roles, str) or not _ROLES_PATH.fullmatch(roles):
        raise _Fault(f"roles {roles!r} is not a claim name or dotted path", "roles", "claims")
    role_table = _table(table, "role_table", within="claims")
    for value, role in (role_table or {}).items():
        if policy is not None and not policy.knows(role):
            raise _Fault(f"role_table maps {value!r} to {role!r}, a role the policy does not define", value,
                         "claims.role_table")  # fmt: skip
    return ClaimMapping(person=person, scopes=scopes, roles=roles, role_table=role_table)


def _pages_client(table: Any, folder: Path) -> PagesClient | None:
    """The `[issuer.approvals]` table: the pages' client id and where its secret is (checked readable now, so a
    missing secret stops the start at its line rather than the first sign-in)."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise _Fault("approvals must be a table", "approvals")
    for key in table:
        if key not in APPROVALS_KEYS:
            raise _Fault(f"unknown key {key!r} in [issuer.approvals]; known: {', '.join(sorted(APPROVALS_KEYS))}",
                         key, "approvals")  # fmt: skip
    client_id = table.get("client_id")
    if not isinstance(client_id, str) or not _TABLE_VALUE.fullmatch(client_id):
        raise _Fault(f"[issuer.approvals] needs a client_id (printable, no spaces), not {client_id!r}", "client_id",
                     "approvals")  # fmt: skip
    secret_file = table.get("client_secret_file")
    if secret_file is None:
        return PagesClient(client_id)
    if not isinstance(secret_file, str) or not secret_file:
        raise _Fault("client_secret_file must be a path", "client_secret_file", "approvals")
    path = folder / secret_file  # an absolute path stays as it is
    if not read_pages_secret(path):
        raise _Fault(f"client_secret_file {secret_file!r} cannot be read or is empty", "client_secret_file",
                     "approvals")  # fmt: skip
    return PagesClient(client_id, path)


def read_pages_secret(path: Path) -> str:
    """The pages' client secret held in `path`, stripped ("" when it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _string(table: Mapping[str, Any], key: str, pattern: re.Pattern[str], *, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _Fault(f"{key} {value!r} is missing or malformed" if required else f"malformed {key} {value!r}", key)
    return value


def _table(table: Mapping[str, Any], key: str, *, within: str | None = None) -> dict[str, str] | None:
    value = table.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not value
        or not all(
            isinstance(k, str) and isinstance(v, str) and _TABLE_VALUE.fullmatch(k) and _TABLE_VALUE.fullmatch(v)
            for k, v in value.items()
        )
    ):
        raise _Fault(f"{key} must be a non-empty table of strings", key, within)
    return dict(value)


def trusted_issuers_of(settings: ServerSettings) -> TrustedIssuers:
    """`settings`' trusted issuers: its file's, else ISSUER_URL alone for any tenant (`TrustedIssuers.single`)."""
    path = settings.issuers_file()
    if path is None:
        return TrustedIssuers.single(settings.issuer_url, person_claim=settings.person_claim)
    if settings.jwks_url is not None:
        raise SettingsError(f"JWKS_URL is for ISSUER_URL alone: with {path}, give each issuer its jwks_url")
    # Silently ignoring it would compare pairwise `sub`s again where a deployment asked for `oid`: four
    # eyes would see one person as two.
    if "person_claim" in settings.model_fields_set:
        raise SettingsError(
            f"PERSON_CLAIM is for ISSUER_URL alone: with {path}, set each issuer's [issuer.claims] person"
        )
    return load_trusted_issuers(path, policy=settings.policy)


def sign_in_issuer(settings: ServerSettings, trusted: TrustedIssuers) -> TrustedIssuer:
    """The issuer the approval pages sign people in at: ISSUER_URL, which the table must list."""
    issuer = trusted.get(settings.issuer_url)
    if issuer is None:
        raise SettingsError(
            f"{settings.issuers_file()}: ISSUER_URL {settings.issuer_url} (the approval pages' sign-in) is not listed"
        )
    return issuer
