"""Processes we start (the demo's stack, the gateway's replicas, the benchmark's and load test's servers):
waiting until they answer on HTTP, and stopping them."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Collection
from pathlib import Path

import httpx2


class StartFailed(RuntimeError):
    """A process we started exited, or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on `host`, bound and released: the process we start binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_answering(
    urls: list[str],
    processes: list[subprocess.Popen[bytes]],
    timeout: float,
    *,
    statuses: Collection[int] = (200,),
    log: Path | None = None,
) -> None:
    """Return once every URL answers one of `statuses`; fail fast if a process exits, or after `timeout` s.

    With `log` (where the processes write their stderr), the failure carries its last lines.
    """
    deadline = time.monotonic() + timeout
    pending = list(urls)
    with httpx2.Client(timeout=2.0) as client:
        while pending:
            exited = [process for process in processes if process.poll() is not None]
            if exited:
                raise StartFailed(f"a process exited at start-up (code {exited[0].returncode}){_tail(log)}")
            if time.monotonic() > deadline:
                raise StartFailed(f"not answering after {timeout:.0f} s: {', '.join(pending)}{_tail(log)}")
            try:
                if client.get(pending[0]).status_code in statuses:
                    pending.pop(0)
                    continue
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)


def _tail(log: Path | None) -> str:
    if log is None:
        return " (see its message above)"
    return (": " + log.read_text(encoding="utf-8", errors="replace")[-2000:]) if log.exists() else ""


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL: a process we started never outlives us."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
