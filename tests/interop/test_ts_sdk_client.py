"""Interoperability: a host built on the TypeScript SDK completes the step-up and the approval.

`ts_client.mjs` connects to the inventory server with the SDK's own OAuth client against the dev IdP
(registration, authorization code + PKCE, a scripted user at the login and consent pages), reads,
calls create_reorder through the 403 step-up and the human approval, and reads again. Before the
challenge named the scopes already held, the SDK's re-authorization traded inventory:read for
inventory:reorder and the next read sent the user to consent again; here there are exactly two
authorizations, and the second read needs none.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fixtures.tenants import DEV_PASSWORDS
from tests.helpers import admin_rows
from tests.http.stack import Stack
from tests.interop.conftest import TypeScriptSdk

SCRIPT = Path(__file__).with_name("ts_client.mjs")
USER = "alice@acme"


def run_client(ts_sdk: TypeScriptSdk, url: str) -> dict[str, object]:
    """Run the TypeScript client against `url` as alice; its JSON report."""
    env = {
        "TS_SDK_DIR": str(ts_sdk.sdk_dir),
        "MCP_SERVER_URL": url,
        "MCP_USER": USER,
        "MCP_PASSWORD": DEV_PASSWORDS[USER],
    }
    done = subprocess.run(
        [str(ts_sdk.node), str(SCRIPT)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=300,  # a loaded CI machine; the run itself takes seconds
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert DEV_PASSWORDS[USER] not in done.stdout
    report: dict[str, object] = json.loads(done.stdout)
    return report


async def test_typescript_sdk_host_steps_up_once_and_keeps_reading(
    ts_sdk: TypeScriptSdk, seeded: None, inventory_stack: Stack, admin_url: str
) -> None:
    inventory = inventory_stack["inventory"]
    before = await admin_rows(admin_url, "SELECT id FROM inventory.reorders")
    idp_before = dict(inventory_stack.idp.requests)
    report = run_client(ts_sdk, inventory.url)
    idp_calls = {path: inventory_stack.idp.requests[path] - idp_before.get(path, 0) for path in ("/register", "/token")}
    after = await admin_rows(admin_url, "SELECT id, tenant_id, sku, warehouse_code, quantity, requested_by, status "
                             "FROM inventory.reorders WHERE id NOT IN (SELECT unnest(CAST(:ids AS text[])))",
                             ids=[row[0] for row in before])  # fmt: skip

    assert str(report["sdkVersion"]).startswith("1.32.")
    assert report["protocolVersion"] == "2025-11-25"
    metadata = inventory.metadata_url
    assert report["challenges"] == [
        {
            "status": 401,
            "wwwAuthenticate": 'Bearer error="invalid_token", error_description="Authentication required", '
            f'scope="inventory:read", resource_metadata="{metadata}"',
        },
        {
            "status": 403,
            "wwwAuthenticate": 'Bearer error="insufficient_scope", scope="inventory:read inventory:reorder", '
            f'resource_metadata="{metadata}", error_description="this call requires scope inventory:reorder"',
        },
    ]
    # One registration, one login, two consents: the first for reading, the second for the step-up.
    assert report["registrations"] == 1 and report["logins"] == 1 and report["consents"] == 2
    assert idp_calls == {"/register": 1, "/token": 2}  # the authorization server saw the same: two codes redeemed
    assert report["authorizations"] == [{"scope": "inventory:read"}, {"scope": "inventory:read inventory:reorder"}]
    assert report["tokens"] == [
        {"scope": "inventory:read", "refreshToken": False},
        {"scope": "inventory:read inventory:reorder", "refreshToken": False},
    ]
    # The model saw create_reorder before holding its scope, and was told what it needs.
    assert "create_reorder" in report["tools"]  # type: ignore[operator]
    assert str(report["createReorderDescription"]).endswith(
        "Needs the inventory:reorder permission; the server asks for it when called."
    )
    assert report["firstRead"] == {"isError": False, "items": 5}
    arguments = report["reorderArgs"]
    assert isinstance(arguments, dict)
    assert report["elicitations"] == [
        f"Create a purchase reorder of {arguments['quantity']} x {arguments['sku']} for warehouse "
        f"{arguments['warehouse']} (organisation acme, requested by alice@acme).\n\nApprove this action?"
    ]
    reorder = report["reorder"]
    assert isinstance(reorder, dict) and reorder["isError"] is False
    created = reorder["result"]
    assert after == [
        (created["id"], "acme", arguments["sku"], arguments["warehouse"], arguments["quantity"], USER, "open")
    ]
    # The read after the step-up went through on the stepped-up token: no third authorization.
    assert report["authorizationsBeforeSecondRead"] == 2
    second = report["secondRead"]
    assert isinstance(second, dict) and second["isError"] is False and created["id"] in second["reorderIds"]
