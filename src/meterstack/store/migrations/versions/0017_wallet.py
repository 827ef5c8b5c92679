"""wallet: the ledger, auto-reload settings, reloads, deposits, marketplace items and payouts

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 11:30:00.000000

A wallet's balance is a counter row (``wallet:balance``) written by the same admission as the
meters; these tables hold what moved it. Amounts are whole millionths (D17), so a SUM in SQL is
exact on every backend.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_entries",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("book", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("byok", sa.Boolean(), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("item_id", sa.String(length=40), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("payout_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("kind", "reference", name="uq_wallet_entries_kind_reference"),
    )
    op.create_index("ix_wallet_entries_account", "wallet_entries", ["account_id", "book", "seq"])
    op.create_table(
        "wallet_settings",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=True),
        sa.Column("reload_amount", sa.BigInteger(), nullable=True),
        sa.Column("target_balance", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "wallet_reloads",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wallet_reloads_account", "wallet_reloads", ["account_id", "created_at"])
    op.create_table(
        "wallet_deposits",
        sa.Column("checkout_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("checkout_id"),
    )
    op.create_table(
        "marketplace_items",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("creator_id", sa.String(length=40), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_marketplace_items_creator", "marketplace_items", ["creator_id", "created_at"]
    )
    op.create_table(
        "wallet_payouts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("creator_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wallet_payouts_status", "wallet_payouts", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_wallet_payouts_status", table_name="wallet_payouts")
    op.drop_table("wallet_payouts")
    op.drop_index("ix_marketplace_items_creator", table_name="marketplace_items")
    op.drop_table("marketplace_items")
    op.drop_table("wallet_deposits")
    op.drop_index("ix_wallet_reloads_account", table_name="wallet_reloads")
    op.drop_table("wallet_reloads")
    op.drop_table("wallet_settings")
    op.drop_index("ix_wallet_entries_account", table_name="wallet_entries")
    op.drop_table("wallet_entries")
