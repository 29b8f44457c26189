"""`audit_log.seq` is drawn from its sequence by a trigger, whatever the INSERT says.

Why: `seq` is the order of each tenant's chain (`securemcp.audit.chain`). An identity column, even
`GENERATED ALWAYS`, takes any value from `INSERT ... OVERRIDING SYSTEM VALUE`, which needs nothing
beyond INSERT: the server role could add one record with a huge `seq`, and every later record of that
tenant would chain to it while sorting before it, a chain broken for good. So `seq` is a plain column
and a BEFORE INSERT trigger sets it from `<schema>.audit_log_seq_seq` on every row, replacing whatever
value the statement gave. The trigger function is SECURITY DEFINER (the schema owner's), so the server
role holds no privilege on the sequence at all: it cannot draw, skip or set a number itself. Only a
superuser running with `session_replication_role = replica` gets past, as with the append-only trigger.

`create_audit_seq_trigger` is part of the table's DDL (`securemcp.schema.audit_log`); a database whose
`audit_log` was made before (an identity column) is brought here by `upgrade_audit_seq`, which
`supplychain db upgrade-squashed` runs (docs/upgrading.md), and `seq_is_choosable` tells the two apart.
"""

from alembic import op
from sqlalchemy import Connection, text

from securemcp.schema.names import schema_name

SEQUENCE = "audit_log_seq_seq"  # the name Postgres gave the identity column's sequence, kept as it was
TRIGGER = "audit_log_seq_from_sequence"
FUNCTION = "audit_log_draws_seq"


def create_audit_seq_trigger(schema: str) -> None:
    """Create (or replace) the function and trigger that set every new `<schema>.audit_log.seq` from the sequence."""
    schema = schema_name(schema)
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {schema}.{FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
        BEGIN
            NEW.seq := nextval('{schema}.{SEQUENCE}');
            RETURN NEW;
        END $$""")
    op.execute(f"REVOKE ALL ON FUNCTION {schema}.{FUNCTION}() FROM PUBLIC")
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {schema}.audit_log")
    op.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON {schema}.audit_log "
        f"FOR EACH ROW EXECUTE FUNCTION {schema}.{FUNCTION}()"
    )


def upgrade_audit_seq(schema: str) -> None:
    """Bring a `<schema>.audit_log` made before this version (an identity `seq`) to the trigger; a no-op after.

    Run as the schema's owner. The identity column becomes a plain one and its sequence is made again
    under the same name, continuing from the next number the old one would have given (read from the
    sequence itself: forced row-level security hides the rows from the owner), so no `seq` repeats.
    """
    schema = schema_name(schema)
    op.execute(f"""
        DO $$
        DECLARE
            next_seq bigint;
        BEGIN
            IF (SELECT attidentity FROM pg_catalog.pg_attribute
                WHERE attrelid = '{schema}.audit_log'::regclass AND attname = 'seq') <> '' THEN
                SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO next_seq
                FROM {schema}.{SEQUENCE};
                ALTER TABLE {schema}.audit_log ALTER COLUMN seq DROP IDENTITY;
                CREATE SEQUENCE {schema}.{SEQUENCE} AS bigint OWNED BY {schema}.audit_log.seq;
                PERFORM setval('{schema}.{SEQUENCE}', next_seq, false);
            END IF;
        END $$""")
    create_audit_seq_trigger(schema)


def seq_is_choosable(connection: Connection, schema: str) -> bool:
    """True when `<schema>.audit_log` exists and an INSERT can still choose its `seq` (made before this version)."""
    found = connection.execute(
        text(
            "SELECT a.attidentity <> '' OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t "
            "WHERE t.tgrelid = a.attrelid AND t.tgname = :trigger) "
            "FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = to_regclass(:table) AND a.attname = 'seq'"
        ),
        {"trigger": TRIGGER, "table": f"{schema_name(schema)}.audit_log"},
    ).scalar()
    return bool(found)
