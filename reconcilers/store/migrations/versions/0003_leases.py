"""Leases: one pass per tenant and loop, whatever process runs it; the ledger row names the
lease under which it was claimed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 17:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_KEY_LENGTH = 320


def _time(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("tenant", sa.String(length=TENANT_KEY_LENGTH), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        _time("taken_at"),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("tenant", "name", name=op.f("pk_leases")),
        comment="One pass per tenant and loop, whatever runs it: who holds it and until when",
    )
    op.add_column(
        "work_order_ledger", sa.Column("claimed_by", sa.String(length=32), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("work_order_ledger") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("leases")
