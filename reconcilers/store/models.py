"""The tables of the operator's own state (DESIGN.md section 3).

Every table but one is keyed by ``tenant`` ("namespace/name" of the VismaIntegration), so
forgetting a tenant (S-74) is one delete per table. The exception, ``activated_pairs``,
records that a Simon licence and a Visma.net company were activated together: it outlives
the tenant, so that a resource made again for the same pair is a re-activation.
Enumerated values are plain strings, checked in Python (`records`), so that a new value
never needs a schema migration.

A change here needs a new alembic revision in ``migrations/versions``; a test compares
the migrated schema with this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

TENANT_KEY_LENGTH = 320
"""A namespace (<= 63) and a name (<= 253) with a slash between."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC text, which sorts correctly.
    A naive datetime given to it is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name != "postgresql":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - drivers return datetimes
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _tenant() -> Column[str]:
    return Column("tenant", String(TENANT_KEY_LENGTH), primary_key=True)


high_water_marks = Table(
    "high_water_marks",
    metadata,
    _tenant(),
    Column("kind", String(64), primary_key=True),
    Column("mark", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    comment="S-13/S-14: newest change seen per (tenant, kind), an ISO timestamp or a cursor",
)

first_import_progress = Table(
    "first_import_progress",
    metadata,
    _tenant(),
    Column("kind", String(64), primary_key=True),
    Column("done", Integer, nullable=False),
    Column("total", Integer, nullable=True),
    Column("cursor", Text, nullable=True),
    Column("finished", Boolean, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    comment="S-15: progress of a first import, so an interrupted one resumes",
)

links = Table(
    "links",
    metadata,
    _tenant(),
    Column("kind", String(16), primary_key=True),
    Column("visma_key", String(100), primary_key=True),
    Column("simon_id", BigInteger, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "tenant", "kind", "simon_id"),
    comment="Visma.net key -> Simon id with the hash of what was written (S-13)",
)

work_order_ledger = Table(
    "work_order_ledger",
    metadata,
    _tenant(),
    Column("work_order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("work_order_number", String(50), nullable=True),
    Column("state", String(16), nullable=False),
    Column("simon_modified", UTCDateTime, nullable=True),
    Column("document_kind", String(16), nullable=True),
    Column("document_type", String(16), nullable=True),
    Column("document_number", String(50), nullable=True),
    Column("marker", String(100), nullable=True),
    Column("attachments_done", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("claim_token", String(32), nullable=True),
    Column("claimed_by", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Index(None, "tenant", "state"),
    comment="S-4: every archived work order and how far it got on its way to Visma.net",
)

imported_orders = Table(
    "imported_orders",
    metadata,
    _tenant(),
    Column("order_key", String(64), primary_key=True),
    Column("simon_work_order_id", BigInteger, nullable=True),
    Column("imported_at", UTCDateTime, nullable=False),
    comment="S-60: Visma.net orders (e.g. SO-000223) already imported as Simon work orders",
)

tenant_activations = Table(
    "tenant_activations",
    metadata,
    _tenant(),
    Column("enabled", Boolean, nullable=False),
    Column("activation_count", Integer, nullable=False),
    Column("first_activated_at", UTCDateTime, nullable=True),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("wiped_kinds", JSON, nullable=False),
    Column("wiped_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("reactivation", Boolean, nullable=False, server_default=false()),
    comment="S-40/S-72/S-73: activations and the wipe done for the current one",
)

activated_pairs = Table(
    "activated_pairs",
    metadata,
    Column("pair", String(64), primary_key=True),
    Column("simon_url", Text, nullable=False),
    Column("licence_hash", String(64), nullable=False),
    Column("visma_tenant_id", Text, nullable=False),
    Column("first_activated_at", UTCDateTime, nullable=False),
    Column("last_activated_at", UTCDateTime, nullable=False),
    Column("last_tenant", String(TENANT_KEY_LENGTH), nullable=False),
    comment="S-74: Simon licences (by hash) and Visma.net companies activated together; "
    "kept when a tenant is forgotten",
)

integration_log = Table(
    "integration_log",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("tenant", String(TENANT_KEY_LENGTH), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("severity", String(8), nullable=False),
    Column("record_table", String(16), nullable=False),
    Column("record_key", String(100), nullable=False),
    Column("message", Text, nullable=False),
    Column("action", Text, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Index(None, "tenant", "time"),
    Index(None, "tenant", "record_table", "record_key"),
    comment="S-80: the integration log users read",
)

loop_schedules = Table(
    "loop_schedules",
    metadata,
    _tenant(),
    Column("loop", String(32), primary_key=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("next_run_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    comment="S-30: when each loop last ran and is next due, across restarts",
)

leases = Table(
    "leases",
    metadata,
    _tenant(),
    Column("name", String(32), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("token", String(32), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    comment="One pass per tenant and loop, whatever runs it: who holds it and until when",
)

TENANT_TABLES: tuple[Table, ...] = (
    high_water_marks,
    first_import_progress,
    links,
    work_order_ledger,
    imported_orders,
    tenant_activations,
    integration_log,
    loop_schedules,
    leases,
)
"""Every table with per-tenant rows (all but ``activated_pairs``): what
`Store.forget_tenant` empties."""
