"""feature overrides

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_overrides",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "feature"),
    )


def downgrade() -> None:
    op.drop_table("feature_overrides")
