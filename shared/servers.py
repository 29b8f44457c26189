"""Find a server package by name: its settings class and `build_server` factory."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from shared.policy import SERVERS
from shared.settings import ServerSettings


def server_module(name: str) -> ModuleType:
    """`servers.<name>.server`, for one of the four server names."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; choose one of {', '.join(SERVERS)}")
    return import_module(f"servers.{name}.server")


def load_settings(name: str, **overrides: Any) -> ServerSettings:
    """The server's settings from its own environment prefix, with explicit overrides on top."""
    settings_class: type[ServerSettings] = getattr(server_module(name), f"{name.capitalize()}Settings")
    return settings_class(**overrides)


def http_app(name: str, settings: ServerSettings) -> Any:
    """The ASGI app serving server `name` over Streamable HTTP as an OAuth 2.1 resource server."""
    from shared.http import Issuer, build_http_app

    module = server_module(name)
    issuer = Issuer(settings)
    server = module.build_server(settings, token_verifier=issuer.verifier())
    rules = {function.__name__: spec.rule for function, spec in module.TOOLS.items()}
    return build_http_app(server, settings=settings, issuer=issuer, rules=rules)
