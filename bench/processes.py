"""Server processes for the benchmark: free ports, CPU pinning, readiness, memory, shutdown.

Every measured server runs in a process of its own. Where `taskset` exists and there are at least
two cores, the system under test (server and Postgres) gets the last core and the load generator
(this process) the others, so the client's own work does not slow the server it measures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from supplychain.processes import StartFailed, stop_process, wait_until_answering


@dataclass(frozen=True)
class Cores:
    """Which cores the server side and the load generator use (None: no pinning)."""

    server: tuple[int, ...] | None
    client: tuple[int, ...] | None

    @property
    def description(self) -> str:
        if self.server is None:
            return "not pinned (taskset missing or a single core)"
        return f"server and Postgres on core(s) {self.server}, load generator on core(s) {self.client}"


def plan_cores() -> Cores:
    """Pin when we can: the last core for the system under test, the rest for the load generator."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(available) < 2:
        return Cores(server=None, client=None)
    return Cores(server=(available[-1],), client=tuple(available[:-1]))


def pin_self(cores: Cores) -> None:
    if cores.client is not None:
        os.sched_setaffinity(0, cores.client)


def pin_pid(pid: int, cores: tuple[int, ...] | None) -> None:
    """Pin an already running process and all its threads (Postgres: its future backends inherit it)."""
    if cores is None or shutil.which("taskset") is None:
        return
    spec = ",".join(map(str, cores))
    subprocess.run(["taskset", "-a", "-p", "-c", spec, str(pid)], check=False, capture_output=True)  # noqa: S603, S607


def pinned_command(command: Sequence[str], cores: tuple[int, ...] | None) -> list[str]:
    """`command` under taskset on `cores`; None or () runs it unpinned."""
    if not cores:
        return list(command)
    return ["taskset", "-c", ",".join(map(str, cores)), *command]


def python_command(*args: str) -> list[str]:
    """`python -m ...` in this interpreter (what `uv run supplychain ...` runs, without uv's start-up)."""
    return [sys.executable, *args]


@dataclass
class Process:
    """A started server process and what it answers on."""

    label: str
    popen: subprocess.Popen[bytes]
    url: str
    extra: dict[str, object] = field(default_factory=dict)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children (uvicorn workers), in bytes."""
        return sum(self.worker_rss_bytes(every=True))

    def worker_rss_bytes(self, *, every: bool = False) -> list[int]:
        """RSS of each serving process (the workers when there are children, else the process itself)."""
        processes = self.tree()
        serving = processes if every or len(processes) == 1 else processes[1:]
        sizes = []
        for process in serving:
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(process.memory_info().rss)
        return sizes


@contextmanager
def running(
    label: str,
    command: Sequence[str],
    *,
    url: str,
    ready_url: str,
    env: dict[str, str],
    cores: tuple[int, ...] | None,
    log: Path,
    ready_status: Sequence[int] = (200,),
    timeout: float = 60.0,
) -> Iterator[Process]:
    """Run `command` until the block ends; ready once `ready_url` answers one of `ready_status`.

    Its stderr goes to `log` (a pipe nobody reads would fill up and stall the server).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as stderr:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            pinned_command(command, cores), env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        try:
            wait_until_answering([ready_url], [popen], timeout, statuses=ready_status, log=log)
        except StartFailed as failure:
            raise RuntimeError(f"{label}: {failure}") from None
        yield Process(label=label, popen=popen, url=url)
    finally:
        stop_process(popen, timeout=15)
