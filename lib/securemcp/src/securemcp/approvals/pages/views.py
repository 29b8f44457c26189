"""Rendering the approval pages: Jinja2 templates (autoescaped, as files) and the page responses.

Guarantees: autoescaping is on for every template, so any value shown is text, never markup; the
decision sentence comes from trusted fields only (`ApprovalStatus.summary`), and outside text is shown
only in its own marked block, with invisible and direction-changing characters made visible.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse

from securemcp.approvals.pages.config import PagesConfig

if TYPE_CHECKING:
    from jinja2 import Environment

_TEMPLATES = Path(__file__).parent / "templates"
LEVEL_NAMES = {
    "confirm": "Confirm (the requester's client)",
    "verified": "Verified: the requester, signed in",
    "four_eyes": "Four eyes: a second person of the organisation",
}


def visible_controls(text: object) -> str:
    """`text` with format and control characters (bidi overrides, zero-width, ...) shown as `[U+XXXX]`.

    Escaping makes markup inert; this makes text that would reorder or hide what is shown inert too.
    """
    return "".join(
        f"[U+{ord(char):04X}]"
        if unicodedata.category(char) in ("Cf", "Cc", "Co", "Cs") and char not in "\n\t"
        else char
        for char in str(text)
    )


def _utc(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> Environment:
    # Imported on the first page, not with the server: most servers render none between restarts, and
    # Jinja2 is 1.5 MB of every server process's memory (measured by `supplychain bench`).
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined, auto_reload=False
    )
    environment.filters["visible_controls"] = visible_controls
    environment.filters["utc"] = _utc
    environment.filters["level_name"] = lambda level: LEVEL_NAMES.get(str(level), str(level))
    environment.filters["sentence"] = lambda approval: approval.summary
    return environment


class Views:
    """Renders the pages of one server."""

    def __init__(self, config: PagesConfig) -> None:
        self.config = config

    @cached_property
    def environment(self) -> Environment:
        """The templates, loaded when the first page is rendered."""
        return _environment()

    def page(self, template: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
        """`template` rendered with the values every page needs."""
        context.setdefault("person", None)
        context.setdefault("csrf_token", "")
        html = self.environment.get_template(template).render(
            title=title, server=self.config.server, base_url=self.config.base_url,
            max_age_minutes=max(1, int(self.config.max_sign_in_age.total_seconds() // 60)), **context,
        )  # fmt: skip
        return HTMLResponse(html, status_code=status)

    def message(
        self, *, title: str, message: str, status: int, kind: str = "", detail: str = "", **context: Any
    ) -> HTMLResponse:
        """A one-message page (not found, conflict, refusal, done)."""
        return self.page(
            "message.html", title=title, status=status, message=message, kind=kind, detail=detail, **context
        )

    def not_found(self, **context: Any) -> HTMLResponse:
        """The one page for an id that is unknown, malformed or another organisation's: they must look alike."""
        return self.message(
            title="No such approval", status=404, kind="refused",
            message="There is no approval with this id that you can see.", **context,
        )  # fmt: skip
