"""Caps on client metadata document fetches in flight: overall, and per client id.

Every fetch holds a connection and a task for up to the fetch timeout, and anyone can name a slow
server as their client id, so fetches are not queued: one over a cap is refused at once
(`FetchesBusy`) and the caller answers `temporarily_unavailable`. A refusal is never cached, so a
flood cannot lock a real client out beyond the flood itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio


class FetchesBusy(Exception):
    """Too many document fetches in flight (overall or for this client id); the message says which."""


class FetchSlots:
    """A bounded semaphore for all fetches, and one per client id while that client has a fetch in flight."""

    def __init__(self, *, overall: int, per_client: int) -> None:
        self.overall = anyio.Semaphore(overall, max_value=overall)
        self.per_client = per_client
        self._clients: dict[str, anyio.Semaphore] = {}

    @contextmanager
    def hold(self, client_id: str) -> Iterator[None]:
        """Hold one overall slot and one of `client_id`'s for the block; `FetchesBusy` when either is taken."""
        client = self._clients.get(client_id) or anyio.Semaphore(self.per_client, max_value=self.per_client)
        # No await between these checks and the acquisitions: nothing else runs in between.
        if client.value == 0:
            raise FetchesBusy("this client's metadata document is already being fetched")
        if self.overall.value == 0:
            raise FetchesBusy("too many client metadata documents are being fetched right now")
        client.acquire_nowait()
        self.overall.acquire_nowait()
        self._clients[client_id] = client
        try:
            yield
        finally:
            self.overall.release()
            client.release()
            if client.value == self.per_client:  # kept only while in use: never more than `overall` entries
                del self._clients[client_id]
