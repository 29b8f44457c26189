"""The report: JSON (every measurement), a markdown summary, a PNG chart, and docs/performance.md.

Absolute numbers on a shared machine drift, so the comparisons are ratios taken within one round
(same minute, same machine state) and summarised by their median across rounds, min and max shown.
Each target (throughput, latency, start-up, memory and scaling: `evaluate`) is evaluated from the
numbers and printed as met or missed, with the margin.

docs/performance.md holds the block between `BEGIN` and `END`, rewritten by every full run, and the
people's text around it. The page stays short: its block leaves out the per-round ratios, which are in
the run's JSON and `latest.md`.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.measure import Measurement
from bench.suite import CASES, Results

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DOCS = Path(__file__).resolve().parent.parent / "docs"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
FLOOR, BARE_MCP, BARE_FASTMCP, SECURED, GATEWAY = (
    "floor (asyncpg)",
    "bare mcp",
    "bare fastmcp",
    "secured",
    "secured + gateway",
)


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _by(measurements: list[Measurement], case: str) -> dict[tuple[str, int], list[Measurement]]:
    grouped: dict[tuple[str, int], list[Measurement]] = defaultdict(list)
    for measurement in measurements:
        if measurement.case == case:
            grouped[(measurement.target, measurement.clients)].append(measurement)
    return grouped


def round_ratios(results: Results) -> list[dict[str, Any]]:
    """Per round and client count: secured against bare mcp and bare fastmcp, gateway against secured."""
    at: dict[tuple[int, int, str], Measurement] = {
        (m.round, m.clients, m.target): m for m in results.measurements if m.case == "compare"
    }
    rows = []
    for round_, clients in sorted({(m.round, m.clients) for m in results.measurements if m.case == "compare"}):
        secured, bare, fast = (at.get((round_, clients, name)) for name in (SECURED, BARE_MCP, BARE_FASTMCP))
        gateway = at.get((round_, clients, GATEWAY))
        if secured is None or bare is None or fast is None:
            continue
        rows.append(
            {
                "round": round_,
                "clients": clients,
                "secured_vs_bare_mcp_throughput": round(secured.calls_per_s / bare.calls_per_s, 3),
                "secured_vs_bare_mcp_p99": round(secured.p99_ms / bare.p99_ms, 3),
                "secured_vs_bare_fastmcp_throughput": round(secured.calls_per_s / fast.calls_per_s, 3),
                "gateway_added_p50_ms": round(gateway.p50_ms - secured.p50_ms, 3) if gateway else None,
            }
        )
    return rows


def _verdict(name: str, value: float | None, limit: float, *, higher_is_better: bool, unit: str = "") -> dict[str, Any]:
    if value is None:
        return {"target": name, "value": None, "limit": limit, "status": "not measured"}
    met = value >= limit if higher_is_better else value <= limit
    margin = value - limit
    return {
        "target": name,
        "value": round(value, 3),
        "limit": limit,
        "unit": unit,
        "status": "met" if met else "missed",
        "margin": round(margin, 3),
    }


def evaluate(results: Results) -> list[dict[str, Any]]:
    """The issue's targets, each met or missed by a measured margin."""
    all_ratios = round_ratios(results)
    ratios = [row for row in all_ratios if row["clients"] == 16]
    one_client = [row for row in all_ratios if row["clients"] == 1]
    secured_p50_one = [
        m.p50_ms for m in results.measurements if m.case == "compare" and m.target == "secured" and m.clients == 1
    ]

    def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [row[key] for row in rows if row[key] is not None]
        return _median(values) if values else None

    secured_rss = [
        m.server_rss_mb
        for m in results.measurements
        if m.server_rss_mb is not None and m.target.startswith("secured") and "worker" not in m.target
    ]
    workers = _by(results.measurements, "workers")
    one = [m.calls_per_s for (target, _), ms in workers.items() if target.endswith("1 worker") for m in ms]
    two = [m.calls_per_s for (target, _), ms in workers.items() if target.endswith("2 workers") for m in ms]

    def spread(case: str) -> float | None:
        p50s = [m.p50_ms for m in results.measurements if m.case == case]
        return max(p50s) / p50s[0] if len(p50s) > 1 else None

    cold = [value["median_s"] for value in results.cold_start.values()]
    return [
        _verdict(
            "secured >= 0.8x bare MCPServer throughput (16 clients)",
            median_of(ratios, "secured_vs_bare_mcp_throughput"),
            0.8,
            higher_is_better=True,
            unit="x",
        ),
        _verdict(
            "secured p99 <= 2x bare MCPServer p99 (16 clients)",
            median_of(ratios, "secured_vs_bare_mcp_p99"),
            2.0,
            higher_is_better=False,
            unit="x",
        ),
        _verdict(
            "secured >= 0.6x bare MCPServer throughput (16 clients)",
            median_of(ratios, "secured_vs_bare_mcp_throughput"),
            0.6,
            higher_is_better=True,
            unit="x",
        ),
        *(
            _verdict(
                f"secured >= 1.0x bare fastmcp throughput ({clients} client{'s' if clients > 1 else ''})",
                median_of(
                    [row for row in all_ratios if row["clients"] == clients], "secured_vs_bare_fastmcp_throughput"
                ),
                1.0,
                higher_is_better=True,
                unit="x",
            )
            for clients in results.plan.clients
        ),
        _verdict(
            "secured p50 <= 2.0 ms (1 client)",
            _median(secured_p50_one) if secured_p50_one else None,
            2.0,
            higher_is_better=False,
            unit="ms",
        ),
        _verdict(
            "gateway adds <= 1 ms at p50 (1 client)",
            median_of(one_client, "gateway_added_p50_ms"),
            1.0,
            higher_is_better=False,
            unit="ms",
        ),
        _verdict(
            "stdio cold start <= 1.0 s per server (slowest median)",
            max(cold) if cold else None,
            1.0,
            higher_is_better=False,
            unit="s",
        ),
        _verdict(
            "<= 120 MB RSS per server under load (peak)",
            max(secured_rss) if secured_rss else None,
            120.0,
            higher_is_better=False,
            unit="MB",
        ),
        _verdict(
            "two workers >= 1.8x one worker",
            _median(two) / _median(one) if one and two else None,
            1.8,
            higher_is_better=True,
            unit="x",
        ),
        _verdict("p50 within 1.5x from 10k to 1M rows", spread("rows"), 1.5, higher_is_better=False, unit="x"),
        _verdict("p50 within 1.5x from 2 to 1,000 tenants", spread("tenants"), 1.5, higher_is_better=False, unit="x"),
    ]


def markdown(results: Results, *, command: str, chart: str | None, per_round: bool = True) -> str:
    """The run as markdown tables; `per_round=False` leaves out the ratios of each round (the docs page)."""
    lines = [
        f"Command: `{command}` ({'quick mode' if results.plan.quick else 'full run'}, "
        f"{results.plan.rounds} round(s), {results.plan.duration:g} s per measurement after {results.plan.warmup:g} s "
        f"warm-up). Machine: {results.machine['cpus']} CPUs, {results.machine['memory_gb']} GB; "
        f"{results.machine['pinning']}; load average at start {results.machine['load_average_at_start']}.",
        "",
        "### Side by side: `get_stock_level` (medians over rounds)",
        "",
        "| target | clients | calls/s | p50 ms | p95 ms | p99 ms | errors | server RSS MB | client CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in ("compare", "write", "workers", "tenants", "rows"):
        grouped = _by(results.measurements, case)
        if case != "compare" and grouped:
            lines += ["", f"### {_CASE_TITLES[case]}", "", lines[4], lines[5]]
        for (target, clients), ms in grouped.items():
            rss = [m.server_rss_mb for m in ms if m.server_rss_mb is not None]
            calls, p50, p95, p99 = (_median(getattr(m, key) for m in ms) for key in _COLUMNS)
            lines.append(
                f"| {target} | {clients} | {calls:,.0f} | {p50:.2f} | {p95:.2f} | {p99:.2f} "
                f"| {sum(m.errors for m in ms)} | {max(rss) if rss else '-'} | {max(m.client_cpu_pct for m in ms)} |"
            )
    for name, reason in results.skipped.items():
        lines.append(f"\n{name}: {reason}.")
    if per_round:
        lines += _per_round_table(results)
    lines += [
        "",
        "### Cold start over stdio (spawn to first tools/list answer)",
        "",
        "| server | median s | min s | max s | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for server, times in results.cold_start.items():
        lines.append(f"| {server} | {times['median_s']} | {times['min_s']} | {times['max_s']} | {times['runs']} |")
    lines += ["", "### Targets", "", "| target | measured | limit | status | margin |", "|---|---:|---:|---|---:|"]
    for verdict in evaluate(results):
        unit = verdict.get("unit", "")
        value = "-" if verdict["value"] is None else f"{verdict['value']}{unit}"
        margin = "-" if verdict["value"] is None else f"{verdict['margin']:+}{unit}"
        lines.append(f"| {verdict['target']} | {value} | {verdict['limit']}{unit} | {verdict['status']} | {margin} |")
    if chart:
        lines += ["", f"![throughput and p99 latency]({chart})"]
    return "\n".join(lines) + "\n"


def _per_round_table(results: Results) -> list[str]:
    """The ratios of each round (where the rounds disagree, the medians hide it)."""
    lines = [
        "",
        "### Ratios per round",
        "",
        "| round | clients | secured / bare mcp calls/s | secured / bare mcp p99 | "
        "secured / bare fastmcp calls/s | gateway added p50 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in round_ratios(results):
        added = "-" if row["gateway_added_p50_ms"] is None else row["gateway_added_p50_ms"]
        lines.append(
            f"| {row['round']} | {row['clients']} | {row['secured_vs_bare_mcp_throughput']} | "
            f"{row['secured_vs_bare_mcp_p99']} | {row['secured_vs_bare_fastmcp_throughput']} | {added} |"
        )
    return lines


_COLUMNS = ("calls_per_s", "p50_ms", "p95_ms", "p99_ms")
_CASE_TITLES = {
    "write": "Write: `create_reorder`, approval answered by the client (2026-07-28 round trip, two POSTs per call)",
    "workers": "One uvicorn worker against two (16 clients)",
    "tenants": "Tenants grow (100 stock rows each, calls spread over every tenant, 16 clients)",
    "rows": "Stock rows grow (two tenants, 16 clients)",
}


def chart(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = _by(results.measurements, "compare")
    targets = list(dict.fromkeys(target for target, _ in grouped))
    clients = sorted({count for _, count in grouped})
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(targets))
    for index, target in enumerate(targets):
        xs = [position + index * width for position in range(len(clients))]
        for axis, metric in ((throughput, "calls_per_s"), (latency, "p99_ms")):
            runs = [grouped.get((target, c), []) for c in clients]
            heights = [_median(getattr(m, metric) for m in measured) if measured else 0 for measured in runs]
            axis.bar(xs, heights, width, label=target)
    for axis, title in ((throughput, "calls/s (higher is better)"), (latency, "p99 latency, ms (lower is better)")):
        axis.set_xticks([position + width * (len(targets) - 1) / 2 for position in range(len(clients))])
        axis.set_xticklabels([f"{count} client{'s' if count > 1 else ''}" for count in clients])
        axis.set_title(title)
    throughput.legend(fontsize=8)
    figure.suptitle("get_stock_level, same data, same machine" + (" (quick mode)" if results.plan.quick else ""))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: Results, *, command: str) -> dict[str, Path]:
    """Write the run's files; a full run also refreshes the generated part of docs/performance.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    complete = results.plan.cases == CASES
    suffix = ("-quick" if results.plan.quick else "") + ("" if complete else "-partial")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    document = {
        "command": command,
        "plan": asdict(results.plan),
        "machine": results.machine,
        "measurements": [m.as_dict() for m in results.measurements],
        "ratios_per_round": round_ratios(results),
        "cold_start": results.cold_start,
        "skipped": results.skipped,
        "targets": evaluate(results),
    }
    files = {
        "json": RESULTS_DIR / f"run-{stamp}{suffix}.json",
        "latest_json": RESULTS_DIR / f"latest{suffix}.json",
        "markdown": RESULTS_DIR / f"latest{suffix}.md",
        "chart": RESULTS_DIR / f"latest{suffix}.png",
    }
    for key in ("json", "latest_json"):
        files[key].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    chart(results, files["chart"])
    files["markdown"].write_text(markdown(results, command=command, chart=files["chart"].name), encoding="utf-8")
    if not results.plan.quick and complete:
        files |= update_docs(results, command=command)
    return files


def update_docs(results: Results, *, command: str) -> dict[str, Path]:
    """Replace the generated block of docs/performance.md (the notes around it are written by people)."""
    page, picture = DOCS / "performance.md", DOCS / "performance.png"
    chart(results, picture)
    generated = f"{BEGIN}\n{markdown(results, command=command, chart=picture.name, per_round=False)}{END}"
    text = page.read_text(encoding="utf-8") if page.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: generated, text, flags=re.DOTALL)
    page.write_text(text, encoding="utf-8")
    return {"docs": page, "docs_chart": picture}
