"""Key rotation at the edge: `idp rotate-keys`, then `gateway render` + a hitless reload.

A client keeps calling through the gateway on one keep-alive connection the whole time, with a token
signed by the old key; not one of its requests may fail, across two reloads. A token signed by the new
key is refused at the edge until the reload (the edge pins keys from the JWKS it rendered), and
accepted after it, by the edge and by the server behind it.
"""

from __future__ import annotations

import threading
import time

import anyio
import httpx2
import pytest

from idp.keys import rotate_keys
from tests.gateway.conftest import Edge
from tests.http.rpc import modern_request

pytestmark = pytest.mark.haproxy


def list_tools(http: httpx2.Client, url: str, token: str) -> httpx2.Response:
    request = modern_request("tools/list")
    return http.post(url, json=request["json"], headers={**request["headers"], "Authorization": f"Bearer {token}"})


async def test_rotation_and_reload_accept_both_keys_without_failing_a_request(edge: Edge) -> None:
    # Blocking code (threads, reloads) runs off the event loop; `gateway.reload` renders with anyio.run.
    await anyio.to_thread.run_sync(rotate_and_reload_under_load, edge)


def rotate_and_reload_under_load(edge: Edge) -> None:
    url = edge.url("inventory")
    old_token = edge.token("alice@acme")
    statuses: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def keep_calling() -> None:
        with httpx2.Client(verify=edge.ca, timeout=30) as http:
            while not stop.is_set():
                try:
                    statuses.append(list_tools(http, url, old_token).status_code)
                except httpx2.HTTPError as exc:
                    errors.append(repr(exc))
                # Paced under the edge's default tenant limit (100 per 10 s): this test is about keys, and
                # a faster loop would be refused by the limit, not by the rotation.
                stop.wait(0.15)

    caller = threading.Thread(target=keep_calling, name="rotation-client")
    caller.start()
    try:
        with httpx2.Client(verify=edge.ca, timeout=30) as http:
            rotate_keys(edge.idp.keys.directory)
            new_token = edge.token("alice@acme")
            assert list_tools(http, url, new_token).status_code == 401  # the edge does not know the new key yet
            during_first = len(statuses)
            edge.gateway.reload()
            edge.gateway.reload()  # a second reload while the client keeps going
            after_reloads = len(statuses)
            while len(statuses) < after_reloads + 20 and caller.is_alive():  # and on past both reloads
                time.sleep(0.01)
        # A new connection reaches the new worker (a connection open across the reload stays with the old
        # worker until its next response, which closes it).
        with httpx2.Client(verify=edge.ca, timeout=30) as http:
            assert list_tools(http, url, new_token).status_code == 200
            assert list_tools(http, url, old_token).status_code == 200
    finally:
        stop.set()
        caller.join(timeout=30)
    assert errors == []
    assert len(statuses) >= after_reloads + 20 and after_reloads > during_first > 0
    assert set(statuses) == {200}, {status: statuses.count(status) for status in set(statuses)}
    assert len(list((edge.gateway.folder / "keys").glob("*.pem"))) == 2
