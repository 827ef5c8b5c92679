"""money movements: refunds sent to the provider, creators' connected accounts, payout
attempts, and what a lost dispute left owed

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 14:30:00.000000

A refund (of a deposit, or a credit note of a paid invoice) is recorded before the provider is
asked, like a payout, so a crash between the two leaves it pending and the next attempt asks
with the same reference. A payout's attempts are counted and claimed for a while, so two runs
never ask the provider for one payout at once. Amounts are whole millionths, as in the ledger.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "money_refunds",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("payment", sa.String(length=120), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_money_refunds_reference", "money_refunds", ["source", "reference"])
    op.create_index("ix_money_refunds_status", "money_refunds", ["status", "created_at"])
    op.create_table(
        "creator_accounts",
        sa.Column("creator_id", sa.String(length=40), nullable=False),
        sa.Column("provider_account", sa.String(length=120), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("creator_id"),
        sa.UniqueConstraint("provider_account", name="uq_creator_accounts_provider_account"),
    )
    with op.batch_alter_table("wallet_payouts") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("wallet_settings") as batch:
        batch.add_column(sa.Column("owed", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("wallet_deposits") as batch:
        batch.add_column(sa.Column("payment", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallet_deposits") as batch:
        batch.drop_column("payment")
    with op.batch_alter_table("wallet_settings") as batch:
        batch.drop_column("owed")
    with op.batch_alter_table("wallet_payouts") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("attempts")
    op.drop_table("creator_accounts")
    op.drop_index("ix_money_refunds_status", table_name="money_refunds")
    op.drop_index("ix_money_refunds_reference", table_name="money_refunds")
    op.drop_table("money_refunds")
