"""Returns test data: fixture ids by name (see fixtures/returns.py)."""

from __future__ import annotations

from fixtures.returns import RETURNS, return_id

CRUSHED_BOX = return_id("acme", "crushed-box")  # requested: open to a decision
WRONG_SIZE = return_id("acme", "wrong-size")  # already approved in the fixtures
ACME_IDS = [return_id("acme", name) for name, *_ in RETURNS["acme"]]
GLOBEX_IDS = [return_id("globex", name) for name, *_ in RETURNS["globex"]]
MISSING_ID = "rma_" + "0" * 20  # well-formed, exists in no tenant
