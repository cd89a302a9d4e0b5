"""Initial schema: marks, first imports, links, ledger, imports, activation, log, schedules.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 21:45:52+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_KEY_LENGTH = 320


def _tenant() -> sa.Column:
    return sa.Column("tenant", sa.String(length=TENANT_KEY_LENGTH), nullable=False)


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "high_water_marks",
        _tenant(),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("mark", sa.Text(), nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant", "kind", name=op.f("pk_high_water_marks")),
        comment="S-13/S-14: newest change seen per (tenant, kind), an ISO timestamp or a cursor",
    )
    op.create_table(
        "first_import_progress",
        _tenant(),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("finished", sa.Boolean(), nullable=False),
        _time("started_at", nullable=False),
        _time("updated_at", nullable=False),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant", "kind", name=op.f("pk_first_import_progress")),
        comment="S-15: progress of a first import, so an interrupted one resumes",
    )
    op.create_table(
        "links",
        _tenant(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("visma_key", sa.String(length=100), nullable=False),
        sa.Column("simon_id", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant", "kind", "visma_key", name=op.f("pk_links")),
        comment="Visma.net key -> Simon id with the hash of what was written (S-13)",
    )
    op.create_index(op.f("ix_links_tenant_kind_simon_id"), "links", ["tenant", "kind", "simon_id"])
    op.create_table(
        "work_order_ledger",
        _tenant(),
        sa.Column("work_order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("work_order_number", sa.String(length=50), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        _time("simon_modified", nullable=True),
        sa.Column("document_kind", sa.String(length=16), nullable=True),
        sa.Column("document_type", sa.String(length=16), nullable=True),
        sa.Column("document_number", sa.String(length=50), nullable=True),
        sa.Column("marker", sa.String(length=100), nullable=True),
        sa.Column("attachments_done", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        _time("claimed_at", nullable=True),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant", "work_order_id", name=op.f("pk_work_order_ledger")),
        comment="S-4: every archived work order and how far it got on its way to Visma.net",
    )
    op.create_index(
        op.f("ix_work_order_ledger_tenant_state"), "work_order_ledger", ["tenant", "state"]
    )
    op.create_table(
        "imported_orders",
        _tenant(),
        sa.Column("order_key", sa.String(length=64), nullable=False),
        sa.Column("simon_work_order_id", sa.BigInteger(), nullable=True),
        _time("imported_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant", "order_key", name=op.f("pk_imported_orders")),
        comment="S-60: Visma.net orders (e.g. SO-000223) already imported as Simon work orders",
    )
    op.create_table(
        "tenant_activations",
        _tenant(),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("activation_count", sa.Integer(), nullable=False),
        _time("first_activated_at", nullable=True),
        _time("activated_at", nullable=True),
        sa.Column("wiped_kinds", sa.JSON(), nullable=False),
        _time("wiped_at", nullable=True),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_tenant_activations")),
        comment="S-40/S-72/S-73: activations and the wipe done for the current one",
    )
    op.create_table(
        "integration_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _tenant(),
        _time("time", nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("record_table", sa.String(length=16), nullable=False),
        sa.Column("record_key", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        _time("resolved_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_log")),
        comment="S-80: the integration log users read",
    )
    op.create_index(op.f("ix_integration_log_tenant_time"), "integration_log", ["tenant", "time"])
    op.create_index(
        op.f("ix_integration_log_tenant_record_table_record_key"),
        "integration_log",
        ["tenant", "record_table", "record_key"],
    )
    op.create_table(
        "loop_schedules",
        _tenant(),
        sa.Column("loop", sa.String(length=32), nullable=False),
        _time("last_success_at", nullable=True),
        _time("next_run_at", nullable=True),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant", "loop", name=op.f("pk_loop_schedules")),
        comment="S-30: when each loop last ran and is next due, across restarts",
    )


def downgrade() -> None:
    op.drop_table("loop_schedules")
    op.drop_index(op.f("ix_integration_log_tenant_record_table_record_key"), "integration_log")
    op.drop_index(op.f("ix_integration_log_tenant_time"), "integration_log")
    op.drop_table("integration_log")
    op.drop_table("tenant_activations")
    op.drop_table("imported_orders")
    op.drop_index(op.f("ix_work_order_ledger_tenant_state"), "work_order_ledger")
    op.drop_table("work_order_ledger")
    op.drop_index(op.f("ix_links_tenant_kind_simon_id"), "links")
    op.drop_table("links")
    op.drop_table("first_import_progress")
    op.drop_table("high_water_marks")
