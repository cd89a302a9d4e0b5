"""Everything the store keeps for one tenant, by part (DESIGN.md section 3)."""

from __future__ import annotations

from .activation import ActivationState
from .database import Database
from .imported_orders import ImportedOrders
from .integration_log import IntegrationLog
from .leases import Leases
from .ledger import WorkOrderLedger
from .links import Links
from .models import TENANT_KEY_LENGTH
from .progress import FirstImports, HighWaterMarks
from .schedule import LoopSchedules


def check_tenant_key(key: str) -> str:
    """A tenant key is the resource's "namespace/name"; refuse empty or oversized ones."""
    if not key or key != key.strip() or len(key) > TENANT_KEY_LENGTH:
        raise ValueError(f"not a tenant key (namespace/name): {key!r}")
    return key


class TenantState:
    """The operator's own state for one tenant ("namespace/name").

    Cheap to make (no I/O); every operation is an async method of one of its parts:

    ============================  ===================================================
    ``marks``                     high-water marks per kind (S-13, S-14)
    ``first_imports``             first-import progress per kind (S-15)
    ``links``                     Visma key -> Simon id + content hash (S-10 to S-13)
    ``ledger``                    work orders on their way to Visma.net (S-4, S-40, S-41)
    ``imported_orders``           Visma.net orders imported once (S-60)
    ``activation``                activations and their wipe (S-40, S-72, S-73)
    ``log``                       the integration log (S-80)
    ``schedules``                 last and next run of each loop (S-30)
    ``leases``                    who runs a loop's pass now (one process at a time)
    ============================  ===================================================
    """

    def __init__(self, db: Database, key: str) -> None:
        self.key = check_tenant_key(key)
        self.marks = HighWaterMarks(db, key)
        self.first_imports = FirstImports(db, key)
        self.links = Links(db, key)
        self.ledger = WorkOrderLedger(db, key)
        self.imported_orders = ImportedOrders(db, key)
        self.activation = ActivationState(db, key)
        self.log = IntegrationLog(db, key)
        self.schedules = LoopSchedules(db, key)
        self.leases = Leases(db, key)

    def __repr__(self) -> str:
        return f"TenantState({self.key!r})"
