"""One measurement: N concurrent clients, a warm-up, then calls/s, latency percentiles, errors, RSS.

Every client loops over its workload's operation on its own keep-alive connection. Calls that
finish during the warm-up are discarded; the measured window counts completed calls and errors.
The server's resident memory (process tree) is sampled every 200 ms and the peak kept. The load
generator's own CPU use over the window is recorded too (`client_cpu_pct`, of one core): the client
is a single event loop, so near 100 % it would be the bottleneck, and the numbers would say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy

from bench.load import CallFailed, Connection
from bench.workloads import Workload


@dataclass
class Measurement:
    target: str
    clients: int
    seconds: float
    calls: int
    errors: int
    calls_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_rss_mb: float | None
    client_cpu_pct: float
    first_error: str | None = None
    round: int = 0
    case: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Window:
    """Whether finished calls count yet, and what they measured."""

    def __init__(self) -> None:
        self.recording = False
        self.stopping = False
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None

    def failed(self, error: BaseException) -> None:
        if self.recording:
            self.errors += 1
            if self.first_error is None:
                self.first_error = f"{type(error).__name__}: {error}"[:300]


async def _client(workload: Workload, window: _Window, first_index: int, step: int) -> None:
    connection: Connection | None = None
    index = first_index
    while not window.stopping:
        started = time.perf_counter()
        try:
            if connection is None:
                connection = await workload.open()
            await workload.operation(connection, index)
        except (CallFailed, OSError, ValueError, KeyError) as error:
            window.failed(error)
            if connection is not None:
                connection.close()
                connection = None  # reconnect: a failed exchange leaves the connection unusable
        else:
            if window.recording:
                window.latencies.append(time.perf_counter() - started)
        index += step
    if connection is not None:
        connection.close()


async def _sample_rss(workload: Workload, peak: list[int]) -> None:
    if workload.process is None:
        return
    while True:
        peak[0] = max(peak[0], workload.process.rss_bytes())
        await asyncio.sleep(0.2)


async def measure(workload: Workload, *, clients: int, warmup: float, duration: float) -> Measurement:
    """Run `clients` concurrent clients for `warmup` + `duration` seconds; measure the second part."""
    window = _Window()
    tasks = [asyncio.create_task(_client(workload, window, index, clients)) for index in range(clients)]
    peak = [0]
    sampler: asyncio.Task[None] | None = None
    try:
        await asyncio.sleep(warmup)
        sampler = asyncio.create_task(_sample_rss(workload, peak))
        window.recording = True
        cpu_started, started = time.process_time(), time.perf_counter()
        await asyncio.sleep(duration)
        window.recording = False
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        window.stopping = True
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = numpy.array(window.latencies) * 1000 if window.latencies else numpy.array([numpy.nan])
    p50, p95, p99 = (float(value) for value in numpy.percentile(latencies, [50, 95, 99]))
    return Measurement(
        target=workload.name,
        clients=clients,
        seconds=round(elapsed, 3),
        calls=len(window.latencies),
        errors=window.errors,
        calls_per_s=round(len(window.latencies) / elapsed, 1),
        p50_ms=round(p50, 3),
        p95_ms=round(p95, 3),
        p99_ms=round(p99, 3),
        server_rss_mb=round(peak[0] / 2**20, 1) if workload.process is not None else None,
        client_cpu_pct=round(100 * cpu / elapsed, 1),
        first_error=window.first_error,
    )
