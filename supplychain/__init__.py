"""The application shell: the `supplychain` command, database administration, the gateway's bring-up.

`securemcp` (lib/securemcp) is the security library every server imports; this package starts things
and imports it,
never the other way round (the import contracts in pyproject.toml, checked by `uv run lint-imports`).
"""
