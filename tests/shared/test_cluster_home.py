"""The session's embedded cluster keeps working when another pytest narrows pytest's temporary folders.

A pytest that starts narrows its base temporary folder to 0700 (`TempPathFactory.getbasetemp`). Run
as root, pgserver runs Postgres as its own user, which then can no longer reach anything under that
folder: a cluster living there lost its own files (tests/cluster_home.py tells the whole story). Here
the base folder is narrowed for real while Postgres must create files (a new database).
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from supplychain.embedded import is_embedded
from tests.helpers import fresh_database


async def test_the_session_cluster_lives_outside_pytests_folders_that_others_narrow(
    tmp_path_factory: pytest.TempPathFactory, admin_url: str, server_urls: dict[str, str]
) -> None:
    if not is_embedded(admin_url):
        pytest.skip("the session's database is not the embedded cluster")
    if os.geteuid() != 0:
        pytest.skip("only as root does pgserver run Postgres as a user of its own")
    base = tmp_path_factory.getbasetemp()
    mode = base.stat().st_mode
    base.chmod(0o700)  # what the next pytest run does to the folders it shares with this one
    try:
        async with fresh_database(admin_url, "narrowed", ("probe",)) as engine, engine.connect() as conn:
            await conn.execute(text("CREATE TABLE probe.files (x int)"))
            await conn.execute(text("INSERT INTO probe.files VALUES (1)"))
            assert (await conn.execute(text("SELECT x FROM probe.files"))).scalar_one() == 1
    finally:
        base.chmod(mode)
