"""invoice payments, their mirrors on the provider, disputes of payments, customers' details

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 17:15:00.000000

An invoice a checkout paid keeps the provider's payment, so that voiding or crediting it
refunds that payment and a dispute of it finds the invoice. Its mirror on the provider (the
portal's list) is recorded with the payment and retried until the provider has it. Disputes
of deposits, reloads and invoices' payments are recorded when opened and when closed. The
provider's customer keeps the email and name it was last given, so a change is sent once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payment_customers", sa.Column("email", sa.String(length=320), nullable=True))
    op.add_column("payment_customers", sa.Column("name", sa.String(length=200), nullable=True))
    op.create_table(
        "invoice_payments",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("payment", sa.String(length=120), nullable=False),
        sa.Column("checkout_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index("ix_invoice_payments_payment", "invoice_payments", ["payment"])
    op.create_table(
        "invoice_mirrors",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mirrored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index("ix_invoice_mirrors_status", "invoice_mirrors", ["status", "created_at"])
    op.create_table(
        "payment_disputes",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("payment", sa.String(length=120), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payment_disputes_account", "payment_disputes", ["account_id", "opened_at"])


def downgrade() -> None:
    op.drop_table("payment_disputes")
    op.drop_table("invoice_mirrors")
    op.drop_table("invoice_payments")
    with op.batch_alter_table("payment_customers") as batch:
        batch.drop_column("name")
        batch.drop_column("email")
