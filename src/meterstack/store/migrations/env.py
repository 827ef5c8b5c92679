"""Alembic environment: migrations run on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from meterstack.store.schema import metadata

#: Arbitrary constant naming meterstack's migration lock on PostgreSQL.
MIGRATION_LOCK = 7_236_912_001

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # A migration may take longer than a request is allowed to (the store's timeout), and an
    # opener waits for another one's migration: neither is bounded in this transaction.
    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
    connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
    # Two processes opening a new database at once must not both create the tables.
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="meterstack_schema_version",
)
context.run_migrations()
