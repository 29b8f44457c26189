"""Every registered server's tests have the files the scaffold writes for a new server, so a team finds the
same things in the same places in each: `tests/<server>/` beside any extra file of its own (`test_money.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment.registry import SERVERS
from supplychain.scaffold.writer import TEMPLATES

TESTS = Path(__file__).resolve().parents[1]
SCAFFOLD_TEST_FILES = sorted(template.name.removesuffix(".jinja") for template in (TEMPLATES / "tests").glob("*.jinja"))


def test_the_scaffold_writes_builders_cases_and_four_test_modules() -> None:
    assert SCAFFOLD_TEST_FILES == [
        "builders.py", "cases.py", "test_approvals.py", "test_database.py", "test_isolation.py", "test_stdio.py",
    ]  # fmt: skip


@pytest.mark.parametrize("server", SERVERS)
def test_each_servers_tests_have_the_files_the_scaffold_writes(server: str) -> None:
    present = {path.name for path in (TESTS / server).glob("*.py")}
    assert [name for name in SCAFFOLD_TEST_FILES if name not in present] == []
