# TEMPORARY (removed before hand-back): seed only inventory and returns while payments is being built.
import pytest

from shared.admin import seed_database


@pytest.fixture
async def seeded(admin_url, server_urls):
    await seed_database(admin_url, ("inventory", "returns"))
    yield
