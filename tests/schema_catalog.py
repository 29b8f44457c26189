"""A schema as Postgres's catalog describes it, and the reviewed snapshots of each server's schema.

`schema_catalog` reads everything a migration decides about one schema: its relations (owner,
row-level security, privileges), columns (exact types, defaults, identity, privileges), indexes,
constraints, policies, triggers and functions (body, settings, privileges). Rows
are sorted, so two catalogs compare equal exactly when the two schemas are the same.

Grants are in the relations' and columns' access lists (`relacl`, `attacl`), and the table grants
again one per line. The snapshots (`tests/snapshots/schema_<server>.json`) hold one catalog per server, one row per line
so that `git diff` reviews a schema change line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SNAPSHOTS = Path(__file__).parent / "snapshots"

# Each query takes the schema as :s and returns the rows that describe one aspect of it.
CATALOG = {
    "relations": "SELECT c.relname, c.relkind::text, pg_get_userbyid(c.relowner), c.relrowsecurity, "
    "c.relforcerowsecurity, c.relacl::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :s AND c.relkind <> 'i'",
    "columns": "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
    "pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text, a.attacl::text FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE n.nspname = :s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
    "constraints": "SELECT r.relname, c.conname, c.contype::text, pg_get_constraintdef(c.oid) FROM pg_constraint c "
    "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = :s",
    "policies": "SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check FROM pg_policies "
    "WHERE schemaname = :s",
    "triggers": "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :s AND NOT t.tgisinternal",
    "functions": "SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), "
    "pg_get_userbyid(p.proowner), p.prosecdef, p.provolatile::text, p.proconfig::text, p.proacl::text, p.prosrc "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s",
    "table grants": "SELECT table_name, grantee, privilege_type FROM information_schema.role_table_grants "
    "WHERE table_schema = :s",
    "schema": "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace WHERE nspname = :s",
}

Catalog = dict[str, list[list[Any]]]


async def schema_catalog(engine: AsyncEngine, schema: str) -> Catalog:
    """Every aspect of `schema` in `CATALOG`, each a sorted list of rows (lists, as JSON holds them)."""
    async with engine.connect() as conn:
        return {
            name: sorted((list(row) for row in await conn.execute(text(sql), {"s": schema})), key=_sort_key)
            for name, sql in CATALOG.items()
        }


def only(catalog: Catalog, *, tables: Iterable[str], functions: Iterable[str]) -> Catalog:
    """The part of `catalog` that belongs to `tables` and `functions` (by name), and the schema's own row."""
    table_names, function_names = set(tables), set(functions)
    part = {name: [row for row in rows if row[0] in table_names] for name, rows in catalog.items()}
    # A table's relations are the table itself and its identity sequence (`<table>_<column>_seq`).
    part["relations"] = [row for row in catalog["relations"] if _relation_table(row[0], table_names)]
    part["functions"] = [row for row in catalog["functions"] if row[0] in function_names]
    part["schema"] = catalog["schema"]
    return part


def snapshot_file(server: str) -> Path:
    """The reviewed snapshot of `server`'s schema."""
    return SNAPSHOTS / f"schema_{server}.json"


def read_snapshot(server: str) -> Catalog:
    """The snapshot of `server`'s schema, as `schema_catalog` returns it."""
    loaded: Catalog = json.loads(snapshot_file(server).read_text(encoding="utf-8"))
    return loaded


def write_snapshot(server: str, catalog: Catalog) -> None:
    """Write `catalog` as `server`'s snapshot: one aspect after another, one row per line."""
    parts = []
    for name, rows in catalog.items():
        lines = ",\n".join(f"    {json.dumps(row)}" for row in rows)
        parts.append(f"  {json.dumps(name)}: [\n{lines}\n  ]" if rows else f"  {json.dumps(name)}: []")
    snapshot_file(server).write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")


def _sort_key(row: list[Any]) -> list[tuple[bool, Any]]:
    # NULLs last; the values of one position share a type, so numbers sort as numbers.
    return [(value is None, "" if value is None else value) for value in row]


def _relation_table(relation: str, tables: set[str]) -> bool:
    return relation in tables or any(relation.startswith(f"{table}_") and relation.endswith("_seq") for table in tables)
