"""The two shared files a new server is entered in: its registry entry and its roles' policy lines.

Both are edited as text at a marked line, so the result reads like a line a person wrote, and a file
without its marker is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping

from deployment.registry import GATEWAY_PORT, IDP_PORT, REGISTRY
from supplychain.scaffold.names import ScaffoldError

REGISTRY_MARKER = "# `supplychain new-server` adds its entries above this line."
POLICY_MARKER = "# `supplychain new-server` adds its lines above this one"

# Reserved elsewhere: the dev authorization server and the gateway.
TAKEN_PORTS = frozenset({IDP_PORT, GATEWAY_PORT})
MAX_SEGMENT = 24  # replicas live at 127.0.0.<10 * segment + replica + 1>, which must stay below 255


def free_port() -> int:
    """The next port after the registry's highest that nothing else of the deployment uses."""
    port = max(server.port for server in REGISTRY.values()) + 1
    while port in TAKEN_PORTS or any(server.port == port for server in REGISTRY.values()):
        port += 1
    return port


def free_segment() -> int:
    """The lowest segment no server holds (segments are never reused by two servers)."""
    used = {server.segment for server in REGISTRY.values()}
    segment = next(number for number in range(1, MAX_SEGMENT + 2) if number not in used)
    if segment > MAX_SEGMENT:
        raise ScaffoldError(f"no free network segment: at most {MAX_SEGMENT} servers fit the loopback plan")
    return segment


def _insert_before(text: str, marker: str, lines: list[str], where: str) -> str:
    """`text` with `lines` inserted before the line holding `marker`, indented like it."""
    for number, line in enumerate(text.splitlines(keepends=True)):
        if marker in line:
            indent = line[: len(line) - len(line.lstrip())]
            added = "".join(f"{indent}{new}\n" for new in lines)
            head = "".join(text.splitlines(keepends=True)[:number])
            return head + added + text[len(head) :]
    raise ScaffoldError(f"{where} has no line with {marker!r}: add the entry by hand, or restore the marker")


def registry_with(text: str, *, name: str, port: int, segment: int, capability: str) -> str:
    """deployment/registry.py's text with the new server's entry."""
    entry = f'ServerEntry("{name}", port={port}, segment={segment}, capabilities=("{capability}",)),'
    return _insert_before(text, REGISTRY_MARKER, [entry], "deployment/registry.py")


def policy_lines(grants: Mapping[str, list[str]]) -> list[str]:
    """One explicit deployment/policy.py line per role that gains a scope of the new server."""
    return [
        f"_grants[{role!r}] |= {{{', '.join(repr(scope) for scope in scopes)}}}".replace("'", '"')
        for role, scopes in grants.items()
    ]


def policy_with(text: str, *, grants: Mapping[str, list[str]]) -> str:
    """deployment/policy.py's text with one explicit line per role that gains a scope of the new server."""
    return _insert_before(text, POLICY_MARKER, policy_lines(grants), "deployment/policy.py")
