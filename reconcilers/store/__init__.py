"""The operator's own state (DESIGN.md section 3): SQLAlchemy 2 with alembic migrations.

store = await open_store("sqlite:///simon-visma.db")   # or postgresql://...
state = store.tenant("tenant-acme/acme")
claim = await state.ledger.claim(work_order_id, modified=modified, number="1001")
...
await store.close()
"""

from .activation import ActivationPair
from .engine import (
    DATABASE_URL_ENV,
    DatabaseUnavailableError,
    DatabaseUrlError,
    alembic_config,
    async_url,
    default_database_url,
    sync_url,
    upgrade_database,
)
from .imported_orders import order_key
from .leases import Lease, LeaseHeld, LeaseLost, current_lease, run_holding
from .ledger import DEFAULT_STALE_CLAIM, LedgerConflict, WorkOrderClaim
from .records import (
    Activation,
    ActivationEvent,
    FirstImportProgress,
    HighWaterMark,
    ImportedOrder,
    LedgerEntry,
    Link,
    LinkKind,
    LinkUpdate,
    LogEntry,
    LogTable,
    LoopSchedule,
    Severity,
    WorkOrderState,
)
from .store import Store, open_store
from .tenant_state import TenantState

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_STALE_CLAIM",
    "Activation",
    "ActivationEvent",
    "ActivationPair",
    "DatabaseUnavailableError",
    "DatabaseUrlError",
    "FirstImportProgress",
    "HighWaterMark",
    "ImportedOrder",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "LedgerConflict",
    "LedgerEntry",
    "Link",
    "LinkKind",
    "LinkUpdate",
    "LogEntry",
    "LogTable",
    "LoopSchedule",
    "Severity",
    "Store",
    "TenantState",
    "WorkOrderClaim",
    "WorkOrderState",
    "alembic_config",
    "async_url",
    "current_lease",
    "default_database_url",
    "open_store",
    "order_key",
    "run_holding",
    "sync_url",
    "upgrade_database",
]
