"""The benchmark's own database: a private SUPPLYCHAIN_HOME with its own embedded Postgres.

The benchmark never touches the user's data: it always starts a fresh embedded cluster in its own
home (a temporary folder unless `--home` names one), runs `db init` and `db seed` there, and
bulk-loads synthetic tenants with COPY over the admin connection. `SUPPLYCHAIN_ADMIN_DATABASE_URL`
is ignored on purpose: `db init` would reset the server roles' passwords in that cluster.

Synthetic data: tenant `bench-NNNN` has `WAREHOUSES` warehouses and `rows_per_tenant` stock rows;
row `i` of a tenant is SKU `S{i:07d}` in warehouse `W{i % WAREHOUSES}` with `on_hand = expected_on_hand(i)`,
so a load client can check every answer without asking the database.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from supplychain.admin import init_database, seed_database
from supplychain.embedded import start_embedded, stop_embedded

WAREHOUSES = 10
USER_ROLES = ("supply_chain_manager",)


def tenant_name(index: int) -> str:
    return f"bench-{index:04d}"


def user_of(tenant: str) -> str:
    return f"bench@{tenant}"


def sku_of(row: int) -> str:
    return f"S{row:07d}"


def warehouse_of(row: int) -> str:
    return f"W{row % WAREHOUSES}"


def expected_on_hand(row: int) -> int:
    return (row * 7919) % 5000 + 10


@dataclass
class BenchDatabase:
    """The running benchmark cluster: its home, admin DSN and what is loaded."""

    home: Path
    admin_url: str = field(repr=False)  # holds the admin password
    tenants: int = 0
    rows_per_tenant: int = 0

    @property
    def asyncpg_admin_dsn(self) -> str:
        return asyncpg_dsn(self.admin_url)

    def server_dsn(self, server: str = "inventory") -> str:
        """A server role's own DSN (what `db init` wrote into this home's secrets)."""
        return asyncpg_dsn((self.home / "secrets" / f"{server}.dsn").read_text(encoding="utf-8").strip())

    async def load(self, *, tenants: int, rows_per_tenant: int) -> None:
        """Replace the synthetic tenants with `tenants` x `rows_per_tenant` stock rows (COPY, then ANALYZE)."""
        connection = await asyncpg.connect(self.asyncpg_admin_dsn)
        try:
            async with connection.transaction():
                await connection.execute("DELETE FROM inventory.reorders WHERE tenant_id LIKE 'bench-%'")
                await connection.execute("DELETE FROM inventory.stock_levels WHERE tenant_id LIKE 'bench-%'")
                await connection.execute("DELETE FROM inventory.warehouses WHERE tenant_id LIKE 'bench-%'")
                names = [tenant_name(index) for index in range(tenants)]
                await connection.copy_records_to_table(
                    "warehouses",
                    schema_name="inventory",
                    columns=["id", "tenant_id", "code", "name", "city"],
                    records=(
                        (f"wh_{tenant}_{code}", tenant, f"W{code}", f"Bench {code}", "Benchtown")
                        for tenant in names
                        for code in range(WAREHOUSES)
                    ),
                )
                await connection.copy_records_to_table(
                    "stock_levels",
                    schema_name="inventory",
                    columns=[
                        "id",
                        "tenant_id",
                        "warehouse_code",
                        "sku",
                        "description",
                        "on_hand",
                        "reserved",
                        "reorder_point",
                        "reorder_quantity",
                    ],
                    records=(
                        (
                            f"sl_{tenant}_{row}",
                            tenant,
                            warehouse_of(row),
                            sku_of(row),
                            "bench item",
                            expected_on_hand(row),
                            0,
                            100,
                            500,
                        )
                        for tenant in names
                        for row in range(rows_per_tenant)
                    ),
                )
            await connection.execute("ANALYZE inventory.warehouses; ANALYZE inventory.stock_levels")
        finally:
            await connection.close()
        self.tenants, self.rows_per_tenant = tenants, rows_per_tenant


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy-style URL (`postgresql+asyncpg://...`) as asyncpg's plain `postgresql://` DSN."""
    return "postgresql://" + url.split("://", 1)[1]


@dataclass
class BenchHome:
    """Where the benchmark keeps its cluster; removed afterwards unless the user chose it."""

    path: Path
    keep: bool


def choose_home(home: Path | None) -> BenchHome:
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        return BenchHome(home.resolve(), keep=True)
    path = Path(tempfile.mkdtemp(prefix="supplychain-bench-"))
    path.chmod(0o755)  # as root, pgserver runs Postgres as its own user, who must reach the data folder
    return BenchHome(path, keep=False)


def bench_process_environment(home: Path) -> None:
    """Point this process (and the children it starts) at the benchmark home only."""
    for key in [key for key in os.environ if key.startswith("SUPPLYCHAIN_")]:
        del os.environ[key]
    os.environ["SUPPLYCHAIN_HOME"] = str(home)


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: this process's (already the bench home's) plus `extra`."""
    return {**os.environ, **(extra or {})}


async def start_database(home: Path) -> BenchDatabase:
    """Start the embedded cluster in `home`, create roles and schemas, load the fixtures."""
    url = start_embedded()
    await init_database(url)
    await seed_database(url)
    return BenchDatabase(home=home, admin_url=url)


def stop_database() -> None:
    stop_embedded()


def postgres_pids(home: Path) -> list[int]:
    """The postmaster's pid (its backends inherit its CPU affinity)."""
    pidfile = home / "pgdata" / "postmaster.pid"
    try:
        return [int(pidfile.read_text(encoding="utf-8").splitlines()[0])]
    except (FileNotFoundError, ValueError, IndexError):
        return []
