"""Activated pairs: a Simon licence and a Visma.net company activated together, kept when
a tenant is forgotten, so that a resource made again for them is a re-activation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 16:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "activated_pairs",
        sa.Column("pair", sa.String(length=64), nullable=False),
        sa.Column("simon_url", sa.Text(), nullable=False),
        sa.Column("licence_hash", sa.String(length=64), nullable=False),
        sa.Column("visma_tenant_id", sa.Text(), nullable=False),
        _time("first_activated_at", nullable=False),
        _time("last_activated_at", nullable=False),
        sa.Column("last_tenant", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("pair", name=op.f("pk_activated_pairs")),
        comment="S-74: Simon licences (by hash) and Visma.net companies activated together; "
        "kept when a tenant is forgotten",
    )
    op.add_column(
        "tenant_activations",
        sa.Column("reactivation", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # A tenant activated more than once is in a re-activation already.
    op.execute(
        sa.text("UPDATE tenant_activations SET reactivation = :yes WHERE activation_count > 1")
        .bindparams(yes=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("tenant_activations") as batch:
        batch.drop_column("reactivation")
    op.drop_table("activated_pairs")
