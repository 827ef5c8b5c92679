"""collections: one per finalized invoice with an amount due, and every attempt to collect it

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-01 14:30:00.000000

Dunning (D29) lives here: where each invoice's collection stands, the lease a runner holds
while it makes an attempt, and the attempts, keyed by invoice and attempt number so that no
attempt is made twice and no idempotency key serves two attempts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The runner looks for finalized invoices without a collection on every pass.
    op.create_index("ix_invoices_status", "invoices", ["status"])
    op.create_table(
        "invoice_collections",
        sa.Column("invoice_number", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("fallback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restore_plan", sa.String(length=64), nullable=True),
        sa.Column("restore_interval", sa.String(length=16), nullable=True),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("invoice_number"),
    )
    op.create_index(
        "ix_invoice_collections_due", "invoice_collections", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_invoice_collections_account", "invoice_collections", ["account_id", "created_at"]
    )
    op.create_table(
        "collection_attempts",
        sa.Column("invoice_number", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("invoice_number", "number"),
        sa.UniqueConstraint("key", name="uq_collection_attempts_key"),
    )


def downgrade() -> None:
    op.drop_table("collection_attempts")
    op.drop_index("ix_invoice_collections_account", table_name="invoice_collections")
    op.drop_index("ix_invoice_collections_due", table_name="invoice_collections")
    op.drop_table("invoice_collections")
    op.drop_index("ix_invoices_status", table_name="invoices")
