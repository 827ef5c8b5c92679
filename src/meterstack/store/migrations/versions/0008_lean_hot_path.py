"""lean hot path: clustered counters and idempotency keys, no created_at index on keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 13:00:00.000000

Every consume writes two counter rows and one idempotency record. On SQLite both tables become
WITHOUT ROWID (each row lives in its primary key's b-tree, so a write touches one b-tree instead
of a table and its key index). On both backends the ``created_at`` index of the keys goes: each
index is one more page written per request, and the retention purge it served is a rare
maintenance scan.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _counters(name: str, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=120), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("overage", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "item", "scope", "period"),
        sqlite_with_rowid=with_rowid,
    )


def _keys(name: str, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key"),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild(table: str, create: Callable[[str, bool], None], with_rowid: bool) -> None:
    """SQLite cannot change a table's storage in place: copy into a new table and swap."""
    create(f"{table}_new", with_rowid)
    op.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)


def upgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("counters", _counters, with_rowid=False)
        _rebuild("idempotency_keys", _keys, with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("idempotency_keys", _keys, with_rowid=True)
        _rebuild("counters", _counters, with_rowid=True)
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
