"""alerts: alert definitions, their states (fired, resolved) and budgets

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 14:30:00.000000

An alert fires once per crossing and again only after it was resolved (D25): its state row is
written by the admission that crossed the threshold, in the same transaction. A budget (D26)
is a maximum monthly cost; its charges are a counter row (``charges:period``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("meter", sa.String(length=64), nullable=True),
        sa.Column("threshold", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_account", "alerts", ["account_id", "created_at"])
    op.create_table(
        "alert_states",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("alert_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("meter", sa.String(length=64), nullable=True),
        sa.Column("threshold", sa.String(length=40), nullable=True),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=True),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "alert_id"),
    )
    op.create_table(
        "budgets",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("budgets")
    op.drop_table("alert_states")
    op.drop_index("ix_alerts_account", table_name="alerts")
    op.drop_table("alerts")
