"""Fuzzing settings: a modest number of examples per tool so the suite stays fast.

`SUPPLYCHAIN_FUZZ_PROFILE=deep` runs many more (for a nightly or a hunt); the default `ci` profile
runs 25 per tool and per kind (valid, invalid). No deadline: a call crosses a real database.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,  # examples are drawn against seeded rows that differ between runs; do not replay
)
settings.register_profile("deep", parent=settings.get_profile("ci"), max_examples=300)

FUZZ = settings.get_profile(os.environ.get("SUPPLYCHAIN_FUZZ_PROFILE", "ci"))
