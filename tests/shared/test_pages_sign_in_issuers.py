"""Where the approval pages sign a person in: the issuer bound to the approval's tenant (home-realm discovery),
each with the pages' own client there, read strictly from the trusted-issuers file (`[issuer.approvals]`).

The browser flows are in tests/identity_providers/test_two_tenants_two_idps.py; these are the choices on
their own: which issuer a tenant hint leads to, which client is used there, and every mistake in the file
stopping the start at its line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from securemcp.approvals.pages.config import pages_config
from securemcp.identity.issuers import PagesClient
from securemcp.identity.issuers_file import load_trusted_issuers
from securemcp.settings import SettingsError, approval_url

from deployment.policy import POLICY
from supplychain.servers import load_settings

DEV_IDP = "http://127.0.0.1:8100"
GLOBEX_IDP = "https://login.globex.example/oidc"

TWO_IDPS = f"""\
[[issuer]]
issuer = "{DEV_IDP}"
tenant = "acme"

[[issuer]]
issuer = "{GLOBEX_IDP}"
tenant = "globex"
revocation = "none"
[issuer.approvals]
client_id = "globex-approval-pages"
client_secret_file = "globex-pages-secret"
"""


GLOBEX_SECRET = "s3cret-from-the-globex-idp"  # a stand-in for the secret the IdP issued


def write(folder: Path, text: str, *, secret: str | None = GLOBEX_SECRET + "\n") -> Path:
    if secret is not None:
        (folder / "globex-pages-secret").write_text(secret)
    path = folder / "issuers.toml"
    path.write_text(text)
    return path


def test_the_approvals_table_names_the_pages_client_and_its_secret_file_beside_the_issuers_file(
    tmp_path: Path,
) -> None:
    dev, globex = load_trusted_issuers(write(tmp_path, TWO_IDPS), policy=POLICY)
    assert dev.approvals is None  # ISSUER_URL's client: the settings', else registered at the IdP
    assert globex.approvals == PagesClient("globex-approval-pages", tmp_path / "globex-pages-secret")


@pytest.mark.parametrize(
    ("text", "secret", "line", "message"),
    [
        (TWO_IDPS.replace("client_secret_file", 'client_secret = "x"\nclient_secret_file'), "s", 11,
         "unknown key 'client_secret' in [issuer.approvals]; known: client_id, client_secret_file"),
        (TWO_IDPS.replace('client_id = "globex-approval-pages"\n', ""), "s", 9,
         "[issuer.approvals] needs a client_id (printable, no spaces), not None"),
        (TWO_IDPS.replace('client_id = "globex-approval-pages"', 'client_id = "two words"'), "s", 10,
         "[issuer.approvals] needs a client_id (printable, no spaces), not 'two words'"),
        (TWO_IDPS, None, 11, "client_secret_file 'globex-pages-secret' cannot be read or is empty"),
        (TWO_IDPS, "  \n", 11, "client_secret_file 'globex-pages-secret' cannot be read or is empty"),
        (TWO_IDPS.split("[issuer.approvals]")[0] + 'approvals = "globex-approval-pages"\n', "s", 9,
         "approvals must be a table"),
    ],
)  # fmt: skip
def test_each_mistake_in_the_approvals_table_stops_the_start_at_its_line(
    tmp_path: Path, text: str, secret: str | None, line: int, message: str
) -> None:
    path = write(tmp_path, text, secret=secret)
    with pytest.raises(SettingsError) as raised:
        load_trusted_issuers(path, policy=POLICY)
    assert str(raised.value) == f"{path}:{line}: {message}"


def test_the_tenant_of_the_approval_chooses_the_issuer_and_its_client(tmp_path: Path) -> None:
    settings = load_settings(
        "logistics", issuer_url=DEV_IDP, trusted_issuers_file=write(tmp_path, TWO_IDPS),
        approvals_client_id="acme-pages", approvals_client_secret="acme-pages-secret",
    )  # fmt: skip
    config = pages_config(settings)
    globex = config.sign_in_for("globex")
    assert (globex.url, globex.client_id, globex.client_secret) == (
        GLOBEX_IDP, "globex-approval-pages", GLOBEX_SECRET,
    )  # fmt: skip
    acme = config.sign_in_for("acme")
    assert (acme.url, acme.client_id, acme.client_secret) == (DEV_IDP, "acme-pages", "acme-pages-secret")
    # No tenant named, or one no issuer speaks for: ISSUER_URL's sign-in, whose issuer then decides the tenant.
    assert config.sign_in_for(None) == config.sign_in_for("initech") == acme
    assert GLOBEX_SECRET not in repr(globex)  # the secret itself is never in a repr


def test_without_an_issuers_file_everyone_signs_in_at_issuer_url() -> None:
    config = pages_config(load_settings("logistics", issuer_url=DEV_IDP))
    assert {config.sign_in_for(tenant).url for tenant in ("acme", "globex", None)} == {DEV_IDP}
    assert config.sign_in_for("globex").client_id is None  # registered at the dev IdP on first sign-in


def test_issuer_urls_client_given_twice_stops_the_start(tmp_path: Path) -> None:
    both = TWO_IDPS.replace('tenant = "acme"\n', 'tenant = "acme"\n[issuer.approvals]\nclient_id = "a"\n')
    path = write(tmp_path, both)
    settings = load_settings("logistics", issuer_url=DEV_IDP, trusted_issuers_file=path, approvals_client_id="b")
    with pytest.raises(SettingsError) as raised:
        pages_config(settings)
    assert str(raised.value) == (
        f"{path}: ISSUER_URL's [issuer.approvals] and APPROVALS_CLIENT_ID both name the pages' client there: keep one"
    )


def test_an_approval_url_names_its_tenant_and_the_list_names_none() -> None:
    settings = load_settings("logistics", issuer_url=DEV_IDP, port=8102)
    assert approval_url(settings, "ap_0123456789abcdef0123", tenant="globex") == (
        "http://127.0.0.1:8102/approvals/ap_0123456789abcdef0123?tenant=globex"
    )
    assert approval_url(settings) == "http://127.0.0.1:8102/approvals"
