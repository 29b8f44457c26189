"""docs/performance.md: short, and its generated block rewritten by `supplychain bench` without touching
the people's text around it (bench.report.update_docs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report
from bench.measure import Measurement
from bench.suite import Results, make_plan

PAGE = Path(report.__file__).resolve().parent.parent / "docs" / "performance.md"


def _results() -> Results:
    """One round of the comparison at one client: enough for every table the page's block has."""
    results = Results(plan=make_plan(quick=False, rounds=1), machine={
        "cpus": 2, "memory_gb": 4.0, "pinning": "no pinning", "load_average_at_start": [0.1, 0.1],
    })  # fmt: skip
    for target, calls in ((report.BARE_MCP, 800.0), (report.BARE_FASTMCP, 400.0), (report.SECURED, 300.0)):
        results.measurements.append(
            Measurement(target, 1, 8.0, int(calls * 8), 0, calls, 1.5, 2.5, 3.5, 110.0, 5.0, case="compare")
        )
    results.cold_start = {"inventory": {"median_s": 0.9, "min_s": 0.8, "max_s": 1.0, "runs": 10}}
    return results


def test_the_page_stays_under_150_lines() -> None:
    assert len(PAGE.read_text(encoding="utf-8").splitlines()) < 150


def test_the_committed_page_has_one_block_written_by_a_full_run() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert text.count(report.BEGIN) == text.count(report.END) == 1
    block = text.split(report.BEGIN)[1].split(report.END)[0]
    assert block.startswith("\nCommand: `uv run supplychain bench` (full run, ")
    assert "### Targets" in block and block.endswith("![throughput and p99 latency](performance.png)\n")
    assert "### Ratios per round" not in block  # the page's block leaves them to bench/results/


def test_a_full_run_rewrites_only_the_block_between_the_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = "# Performance\n\nPeople's text above.\n\n"
    after = "\n\n## Why\n\nPeople's text below.\n"
    (tmp_path / "performance.md").write_text(f"{before}{report.BEGIN}\nlast run's tables\n{report.END}{after}")
    monkeypatch.setattr(report, "DOCS", tmp_path)
    monkeypatch.setattr(report, "chart", lambda results, path: path.write_bytes(b"PNG"))  # no matplotlib needed
    results = _results()

    files = report.update_docs(results, command="uv run supplychain bench")

    block = report.markdown(results, command="uv run supplychain bench", chart="performance.png", per_round=False)
    assert files == {"docs": tmp_path / "performance.md", "docs_chart": tmp_path / "performance.png"}
    assert (tmp_path / "performance.md").read_text() == f"{before}{report.BEGIN}\n{block}{report.END}{after}"
    assert (tmp_path / "performance.png").read_bytes() == b"PNG"
    assert "| secured | 1 | 300 |" in block and "### Ratios per round" not in block
    assert "### Ratios per round" in report.markdown(results, command="c", chart=None)  # still in latest.md
