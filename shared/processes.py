"""Waiting for processes we started (the demo's stack, the gateway's replicas) to answer on HTTP."""

from __future__ import annotations

import subprocess
import time

import httpx2


class StartFailed(RuntimeError):
    """A process we started exited, or did not answer in time."""


def wait_until_answering(urls: list[str], processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """Return once every URL answers 200; fail fast if a process exits, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    with httpx2.Client(timeout=2.0) as client:
        while pending:
            if any(process.poll() is not None for process in processes):
                raise StartFailed("a process exited at start-up (see its message above)")
            if time.monotonic() > deadline:
                raise StartFailed(f"not answering after {timeout:.0f} s: {', '.join(pending)}")
            try:
                if client.get(pending[0]).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
