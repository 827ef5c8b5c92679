"""provider customers: the payment provider's customer of each account, a checkout's own URL

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-01 14:30:00.000000

A provider with its own hosted pages (Stripe) gives each checkout its URL when it is created;
the embedded provider's URL is computed from the checkout id, so ``provider_url`` stays null for
it. ``payment_customers`` remembers the provider's customer (``cus_…``) of each account, created
on first need and reported by ``GET /api/billing`` (B4).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("checkout_sessions", sa.Column("provider_url", sa.Text(), nullable=True))
    op.create_table(
        "payment_customers",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "provider"),
    )


def downgrade() -> None:
    op.drop_table("payment_customers")
    with op.batch_alter_table("checkout_sessions") as batch:
        batch.drop_column("provider_url")
