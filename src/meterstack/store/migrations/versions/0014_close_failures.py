"""close failures: accounts a period close could not rate

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:00:00.000000

A period close rates every account on its own: one that cannot be rated (a price the rating
cannot compute, a fault) is left unclosed and remembered here with its reason, while the others
are invoiced. The row goes once the account's period closes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "close_failures",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("close_failures")
