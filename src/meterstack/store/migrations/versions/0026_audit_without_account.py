"""audit log: entries of no account (the operator's endpoints for every account, payout runs)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 17:00:00.000000

An operator-wide change (a webhook endpoint receiving every account's events, a payout run)
belongs to no account: its entry keeps ``account_id`` NULL and is found by its kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("account_id", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    # The log is append-only: a downgrade that would have to drop entries refuses instead.
    orphans = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE account_id IS NULL"))
        .scalar_one()
    )
    if orphans:
        raise RuntimeError(f"{orphans} audit entries belong to no account; keep revision 0026")
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("account_id", existing_type=sa.String(length=40), nullable=False)
