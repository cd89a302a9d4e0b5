"""One tenant's integration, free of kopf: clients, activation and the loops.

The CLI's standalone mode and the operator both run a tenant through this module, so they
behave the same (DESIGN.md section 4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconcilers.clients.http import ApiError, RetryPolicy
from reconcilers.clients.simon.client import SimonClient
from reconcilers.clients.visma.client import VismaClient
from reconcilers.loops.activation import SettingsCheck, check_settings, wipe
from reconcilers.loops.cleanup import Cleanup
from reconcilers.loops.imports import OrderImport
from reconcilers.loops.masterdata import MasterDataResult, MasterDataSync
from reconcilers.loops.orders import OrderPush
from reconcilers.resource.credentials import SimonCredentials, VismaCredentials
from reconcilers.resource.tenant import Tenant
from reconcilers.store import ActivationEvent, TenantState
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

LOOPS = ("masterdata", "cleanup", "orders", "imports")


def build_clients(
    tenant: Tenant,
    visma: VismaCredentials,
    simon: SimonCredentials,
    policy: RetryPolicy | None = None,
) -> tuple[VismaClient, SimonClient]:
    spec = tenant.spec
    visma_client = VismaClient(
        tenant_id=spec.visma.tenant_id,
        client_id=visma.client_id.get_secret_value(),
        client_secret=visma.client_secret.get_secret_value(),
        token_url=str(spec.visma.token_url),
        api_url=str(spec.visma.api_url),
        sales_order_url=str(spec.visma.sales_order_url),
        policy=policy,
    )
    simon_client = SimonClient(
        url=str(spec.simon.url),
        license_key=simon.license_key.get_secret_value(),
        username=simon.username.get_secret_value(),
        password=simon.password.get_secret_value(),
        api_key=simon.api_key.get_secret_value() if simon.api_key else None,
        policy=policy,
    )
    return visma_client, simon_client


@dataclass
class ActivationOutcome:
    event: ActivationEvent
    settings: SettingsCheck
    wiped: dict[str, int] = field(default_factory=dict)


@dataclass
class LoopOutcome:
    loop: str
    ok: bool
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    lag: float = 0.0
    """Seconds the pass started after it was due (set when run on a schedule)."""


@dataclass
class TenantRun:
    """One tenant with its clients and state."""

    tenant: Tenant
    visma: VismaClient
    simon: SimonClient
    state: TenantState
    settings: SettingsCheck | None = None
    """The last settings check (S-71); work-order pushes wait while it fails."""
    refused: dict[str, str] = field(default_factory=dict)
    """Master-data content Simon refused, so that a record read again unchanged (in the
    overlap window) is not sent again on every pass; it is when it changes."""

    async def activate(self, now: datetime | None = None) -> ActivationOutcome:
        """Record an activation (S-72, S-73), check the settings (S-71), and wipe what the
        activation asks for, once, before the first master-data pass."""
        spec = self.tenant.spec
        activation = await self.state.activation.begin_activation_if_needed(
            spec.enabled, now=now or utc_now())
        if not spec.enabled:
            return ActivationOutcome(activation.event, SettingsCheck())
        settings = self.settings = await check_settings(spec, self.visma)
        outcome = ActivationOutcome(activation.event, settings)
        if settings.company_reachable:
            wanted = (spec.activation.wipe_on_first_activation
                      if activation.is_first_activation
                      else spec.activation.wipe_on_reactivation)
            remaining = activation.remaining_wipe([str(k) for k in wanted])
            if remaining:
                outcome.wiped = (await wipe(remaining, self.simon, self.state)).removed
        return outcome

    async def run_loop(self, loop: str) -> LoopOutcome:
        """One pass of one loop; a failure to complete is an outcome, not an exception."""
        if loop == "masterdata":
            return await self._masterdata()
        try:
            if loop == "orders":
                if self.settings is not None and not self.settings.valid:
                    return LoopOutcome(loop, False, error="work-order pushes wait until the "
                                       f"settings check passes: {self.settings.message}")
                pushed = await OrderPush(self.visma, self.simon, self.state,
                                         self.tenant.spec.orders).run()
                summary = {"sent": pushed.sent, "failed": pushed.failed,
                           "skipped": pushed.skipped, "passedOver": pushed.passed_over,
                           "recovered": pushed.recovered, "waiting": pushed.waiting}
                ok = pushed.error is None
                if not ok:
                    return LoopOutcome(loop, False, summary, pushed.error)
            elif loop == "imports":
                imported = await OrderImport(self.visma, self.simon, self.state,
                                             self.tenant.spec.imports).run()
                summary = {"imported": imported.imported, "waiting": imported.waiting,
                           "skipped": imported.skipped, "failed": imported.failed,
                           "usedItems": imported.used_items}
                ok = True
            else:
                result = await Cleanup(
                    self.visma, self.simon, self.state,
                    max_removal_percent=self.tenant.spec.cleanup.max_removal_percent).run()
                summary = {
                    "customersRemoved": result.customers_removed,
                    "itemsRemoved": result.items_removed,
                    "workAddressesRemoved": result.work_addresses_removed,
                    "keptInUse": result.kept_in_use,
                    "keptUnconfirmed": result.kept_unconfirmed,
                    "failed": result.failed,
                    "incomplete": result.incomplete,
                    "held": result.held,
                }
                ok = result.complete
                if not ok:
                    problems = list(result.held.values())
                    if result.incomplete:
                        problems.insert(0, "the Visma.net scan was incomplete for "
                                        + " and ".join(result.incomplete))
                    return LoopOutcome(loop, False, summary, "; ".join(problems))
        except ApiError as error:
            log.warning("%s: %s loop could not complete: %s", self.tenant.key, loop, error)
            return LoopOutcome(loop, False, error=str(error))
        if ok:
            await self.state.schedules.record_success(loop)
        return LoopOutcome(loop, ok, summary,
                           None if ok else "the Visma.net scan was incomplete")

    async def _masterdata(self) -> LoopOutcome:
        """One master-data pass. One that cannot complete still reports what it did, and for
        a first import how far it got (done of total, S-15)."""
        sync = MasterDataSync(self.visma, self.simon, self.state, refused=self.refused)
        try:
            await sync.run()
        except ApiError as error:
            log.warning("%s: masterdata loop could not complete: %s", self.tenant.key, error)
            return LoopOutcome("masterdata", False, masterdata_summary(sync.result),
                               str(error))
        await self.state.schedules.record_success("masterdata")
        return LoopOutcome("masterdata", True, masterdata_summary(sync.result))

    async def close(self) -> None:
        await self.visma.aclose()
        await self.simon.aclose()


def masterdata_summary(result: MasterDataResult) -> dict[str, Any]:
    """What a master-data pass did, as the `--json` summary and the metrics show it."""
    return {
        "customers": vars(result.customers) | {"newest": _iso(result.customers.newest)},
        "items": vars(result.items) | {"newest": _iso(result.items.newest)},
        "workAddressesWritten": result.work_addresses_written,
        "workAddressesRemoved": result.work_addresses_removed,
        "workAddressesFailed": result.work_addresses_failed,
        "simonWrites": result.simon_writes,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
