"""`supplychain new-server` refuses a name that cannot be a package, a schema, a role, scopes and settings at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployment.registry import SERVERS
from supplychain.scaffold.names import ScaffoldError, check_name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Procurement", "'Procurement' is not a valid server name: use lower-case letters"),
        ("2fast", "'2fast' is not a valid server name"),
        ("pro-curement", "'pro-curement' is not a valid server name"),
        ("pro__curement", "'pro__curement' is not a valid server name"),
        ("procurement_", "'procurement_' is not a valid server name"),
        ("procurement; drop", "'procurement; drop' is not a valid server name"),
        ("", "'' is not a valid server name"),
        ("p" * 31, f"{'p' * 31!r} is too long: at most 30 characters"),
        ("inventory", "'inventory' is already a server (deployment/registry.py)"),
        ("class", "'class' is a Python keyword: `import servers.class` would not parse"),
        ("match", "'match' is a Python keyword"),
        ("order", "'order' is an SQL reserved word: it cannot name a Postgres schema unquoted"),
        ("all", "'all' is an SQL reserved word"),
        ("audit", "'audit' is reserved: `audit:read` is the auditors' scope on every server"),
        ("public", "'public' is reserved: Postgres' default schema"),
        ("pg_stock", "'pg_stock' is reserved: Postgres reserves schema names starting with pg_"),
        ("tenants", "'tenants' is reserved: fixtures/tenants.py holds the fixture tenants and users"),
        ("supplychain", "'supplychain' is reserved: `supplychain` and every `supplychain_*` name"),
        ("supplychain_meta", "'supplychain_meta' is reserved: `supplychain` and every `supplychain_*` name"),
        ("supplychain_owner", "'supplychain_owner' is reserved: `supplychain` and every `supplychain_*`"),
        ("supplychain_admin", "'supplychain_admin' is reserved: `supplychain` and every `supplychain_*`"),
        ("read", "'read' would clash with the deployment setting SUPPLYCHAIN_READ_ONLY"),
        ("idp_eu", "'idp_eu' would clash with the deployment setting SUPPLYCHAIN_IDP_*"),
        ("gateway", "'gateway' would clash with the deployment setting SUPPLYCHAIN_GATEWAY_*"),
        ("inventory_eu", "'inventory_eu' would clash with server 'inventory': the settings prefixes"),
    ],
)
def test_a_bad_name_is_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(ScaffoldError) as refused:
        check_name(name, SERVERS)
    assert str(refused.value).startswith(reason)


def test_a_name_that_a_longer_existing_name_starts_with_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="'purchase' would clash with server 'purchase_orders'"):
        check_name("purchase", (*SERVERS, "purchase_orders"))


@pytest.mark.parametrize("name", ["procurement", "purchase_orders", "qa2", "p" * 30])
def test_a_good_name_passes(name: str) -> None:
    check_name(name, SERVERS)


# Where the checkout's code and deployment files live (the library is under lib/).
CODE_FOLDERS = (
    "lib",
    "deployment",
    "supplychain",
    "servers",
    "idp",
    "demo",
    "bench",
    "loadtest",
    "tests",
    "deploy",
    ".ci",
)


def _settings_in_the_checkout() -> set[str]:
    """Every `SUPPLYCHAIN_<WORD>_...` variable the checkout's code and deployment files name."""
    root = Path(__file__).resolve().parents[2]
    found: set[str] = set()
    for folder in CODE_FOLDERS:
        for path in (root / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".j2", ".yaml", ".yml", ".sh", ""}:
                found |= set(re.findall(r"SUPPLYCHAIN_([A-Z0-9]+_[A-Z0-9_]+)", path.read_text(errors="ignore")))
    servers = {*SERVERS, "procurement"}  # the scaffold tests' own sample server names its settings too
    return {variable for variable in found if variable.split("_")[0].lower() not in servers}


def test_no_server_name_can_capture_a_deployment_setting() -> None:
    """A server `write` would read SUPPLYCHAIN_WRITE_* and refuse SUPPLYCHAIN_WRITE_SCREENSHOTS as unknown."""
    settings = _settings_in_the_checkout()
    assert "WRITE_SCREENSHOTS" in settings and "IDP_ISSUER" in settings  # the scan sees the code
    for variable in sorted(settings):
        with pytest.raises(ScaffoldError):
            check_name(variable.split("_")[0].lower(), SERVERS)
