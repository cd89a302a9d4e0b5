"""The Visma.net emulator: Visma Connect tokens, the ERP monolith API (`/v1`, `/v2`) and the
SalesOrders v3 service (`/api/v3`), following `api/visma-net.md` (section 14)."""

from emulators.visma.data import generate_visma_tenant
from emulators.visma.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    VismaEmulator,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_TENANT_ID",
    "VismaEmulator",
    "generate_visma_tenant",
]
