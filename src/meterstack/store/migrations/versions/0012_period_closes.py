"""period closes: the periods closed without an invoice

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 09:00:00.000000

A yearly plan's monthly close issues an invoice only when it has something to charge (B12); the
months it closes without one are remembered here, so that the next close starts after them
instead of rating them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "period_closes",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "period_key"),
    )


def downgrade() -> None:
    op.drop_table("period_closes")
