"""usage history: hourly and daily buckets of admitted usage, and percentage transactions

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-01 11:30:00.000000

Admitted usage is added to the bucket of its UTC hour, per account, meter and project, by the
admission that counts it (D27; a day is read as the sum of its hours); on SQLite the buckets
live in their primary key's b-tree (WITHOUT ROWID), one lookup per write. A meter priced by
``percentage`` keeps one row per transaction with its amount, which period close rates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_buckets",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("meter", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("byok", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "meter", "bucket_start", "project_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "usage_transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("meter", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_usage_transactions_period",
        "usage_transactions",
        ["account_id", "meter", "period", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_usage_transactions_period", table_name="usage_transactions")
    op.drop_table("usage_transactions")
    op.drop_table("usage_buckets")
