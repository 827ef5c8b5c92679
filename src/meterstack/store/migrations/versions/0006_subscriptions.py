"""subscriptions: plan history and pending changes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_history",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("billing_interval", sa.String(length=16), nullable=False),
        sa.Column("catalog_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "started_at", "seq"),
    )
    op.create_table(
        "pending_changes",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("billing_interval", sa.String(length=16), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("pending_changes")
    op.drop_table("plan_history")
