"""Refused tokens, logged so an operator can act: which check failed, for which issuer, at a bounded rate.

One WARNING line per (check, issuer) per `interval` seconds (10 by default); the refusals in between are
counted, and the next line of that check and issuer says how many there were. The keys are bounded: the
checks are the fixed list below, and a token from an unlisted issuer counts under `(unlisted)` (its claimed
issuer, cut short and quoted, is only in the line's detail). The token itself is never logged, nor any
claim but the issuer, a `kid`, an algorithm name or a tenant.

    token refused: signature check failed (issuer 'https://idp.acme.example'): the signature does not verify
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# The checks a refusal names, in the order `securemcp.identity.tokens.JWTVerifier` runs them.
CHECKS = ("format", "algorithm", "issuer", "unknown key", "signature", "audience", "expiry", "claim",
          "tenant mismatch", "revoked")  # fmt: skip
UNLISTED = "(unlisted)"


class RefusedTokenLog:
    """The rate-limited WARNING lines of one verifier's refusals (see the module docstring)."""

    def __init__(self, *, interval_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval_seconds
        self._clock = clock
        self._windows: dict[tuple[str, str], list[float]] = {}  # (check, issuer) -> [line written at, suppressed]

    def refused(self, check: str, issuer: str, detail: str) -> None:
        """Account for one refusal by `check` of a token of `issuer`: a line now, or a count for the next."""
        now = self._clock()
        key = (check, issuer)
        window = self._windows.get(key)
        if window is not None and now - window[0] < self.interval:
            window[1] += 1
            return
        suppressed = int(window[1]) if window is not None else 0
        self._windows[key] = [now, 0]
        more = f" ({suppressed} more refused by this check since the last line)" if suppressed else ""
        logger.warning("token refused: %s check failed (issuer %r): %s%s", check, issuer, detail, more)
