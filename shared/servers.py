"""Find a server package by name: its settings class and `build_server` factory."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from shared.authz import ToolRule, ToolSpec
from shared.policy import SERVERS
from shared.settings import ServerSettings

if TYPE_CHECKING:  # the HTTP stack is loaded only when a server serves HTTP
    from shared.http import Issuer


def server_module(name: str) -> ModuleType:
    """`servers.<name>.server`, for one of the four server names."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; choose one of {', '.join(SERVERS)}")
    return import_module(f"servers.{name}.server")


def common_tools(name: str) -> dict[Callable[..., Any], ToolSpec]:
    """The tools every server offers besides its own: the activity log and out-of-band approvals.

    Scopes are derived from the server's name here, once, so the four servers cannot drift apart.
    """
    from mcp.types import ToolAnnotations

    from shared.activity import get_activity_log
    from shared.approvals import decide_approval, get_approval, list_pending_approvals

    read = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
    decide = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
    return {
        get_activity_log: ToolSpec(ToolRule("audit:read"), read, "Read the activity log"),
        get_approval: ToolSpec(ToolRule(f"{name}:read"), read, "Get an approval"),
        list_pending_approvals: ToolSpec(ToolRule(f"{name}:approve"), read, "List pending approvals"),
        decide_approval: ToolSpec(
            ToolRule(f"{name}:approve", side_effect=True, human_decision=True),
            decide,
            "Approve or deny a pending approval",
        ),
    }


def load_settings(name: str, **overrides: Any) -> ServerSettings:
    """The server's settings from its own environment prefix, with explicit overrides on top."""
    settings_class: type[ServerSettings] = getattr(server_module(name), f"{name.capitalize()}Settings")
    return settings_class(**overrides)


def http_app(name: str, settings: ServerSettings, *, issuer: Issuer | None = None) -> Any:
    """The ASGI app serving server `name` over Streamable HTTP as an OAuth 2.1 resource server.

    `issuer` (default: a new one for `settings`) lets a caller, such as a test, watch its key set.
    """
    from shared.http import Issuer, build_http_app

    module = server_module(name)
    issuer = issuer or Issuer(settings)
    server = module.build_server(settings, token_verifier=issuer.verifier())
    rules = {function.__name__: spec.rule for function, spec in module.TOOLS.items()}
    return build_http_app(server, settings=settings, issuer=issuer, rules=rules)
