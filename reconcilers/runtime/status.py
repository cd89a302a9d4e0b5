"""A tenant's `status` (S-81), computed from the store and the latest loop outcomes.

`worth_patching` keeps status writes down: a pass that changed nothing but its own timestamps
patches at most every few minutes (each PATCH is a watch event for every client).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconcilers.loops.activation import SettingsCheck
from reconcilers.loops.orders import PASSED_OVER
from reconcilers.resource.status import (
    ActivationStatus,
    CleanupStatus,
    ConditionType,
    EntityCounts,
    HighestModified,
    ImportsStatus,
    MasterDataProgress,
    MasterDataStatus,
    OrdersStatus,
    Progress,
    RecentError,
    VismaIntegrationStatus,
)
from reconcilers.runtime.runner import LoopOutcome, TenantRun
from reconcilers.store import LinkKind, WorkOrderState

TIMESTAMP_SLACK = timedelta(minutes=5)
TABLE_NAMES = {"workorder": "work order", "customer": "customer",
               "workaddress": "work address", "item": "item"}


async def build_status(
    run: TenantRun,
    previous: VismaIntegrationStatus,
    outcomes: dict[str, LoopOutcome],
    settings: SettingsCheck | None,
    now: datetime,
) -> VismaIntegrationStatus:
    spec, state = run.tenant.spec, run.state
    status = previous.model_copy(deep=True)
    status.observed_generation = run.tenant.generation
    status.company_id = spec.visma.company_id
    schedules = await state.schedules.all()

    def last_success(loop: str) -> datetime | None:
        schedule = schedules.get(loop)
        return schedule.last_success_at if schedule else None

    marks = await state.marks.all()
    progress = await state.first_imports.all()

    def newest(kind: str) -> datetime | None:
        mark = marks.get(f"{kind}.newest")
        return datetime.fromisoformat(mark.mark) if mark else None

    def running(kind: str) -> Progress | None:
        p = progress.get(kind)
        return Progress(done=p.done, total=p.total) if p and not p.finished else None

    customers_progress, items_progress = running("customers"), running("items")
    status.master_data = MasterDataStatus(
        last_success_time=last_success("masterdata"),
        customers=await state.links.count(LinkKind.CUSTOMER),
        items=await state.links.count(LinkKind.ITEM),
        work_addresses=await state.links.count(LinkKind.LOCATION),
        highest_modified=HighestModified(customers=newest("customers"), items=newest("items")),
        progress=(MasterDataProgress(customers=customers_progress, items=items_progress)
                  if customers_progress or items_progress else None),
    )

    cleanup = outcomes.get("cleanup")
    removed = status.cleanup.removed if status.cleanup else None
    if cleanup is not None and cleanup.ok:
        removed = EntityCounts(customers=cleanup.summary.get("customersRemoved", 0),
                               items=cleanup.summary.get("itemsRemoved", 0),
                               work_addresses=cleanup.summary.get("workAddressesRemoved", 0))
    cleanup_schedule = schedules.get("cleanup")
    status.cleanup = CleanupStatus(
        last_success_time=last_success("cleanup"),
        next_run_time=cleanup_schedule.next_run_at if cleanup_schedule else None,
        removed=removed)

    counts = await state.ledger.counts()
    status.orders = OrdersStatus(
        last_success_time=last_success("orders"),
        sent=counts[WorkOrderState.DONE],
        failed=counts[WorkOrderState.FAILED],
        waiting=sum(counts[s] for s in (WorkOrderState.CLAIMED, WorkOrderState.CREATING,
                                        WorkOrderState.CREATED, WorkOrderState.ATTACHED)),
        passed_over=await state.ledger.count_with_error(WorkOrderState.SKIPPED, PASSED_OVER))
    status.imports = ImportsStatus(last_success_time=last_success("imports"),
                                   imported=await state.imported_orders.count())

    activation = await state.activation.get()
    if activation is not None:
        status.activation = ActivationStatus(activated_at=activation.activated_at,
                                             wiped=list(activation.wiped_kinds) or None)
    status.recent_errors = [
        RecentError(time=e.time, table=TABLE_NAMES.get(e.table.value, e.table.value), key=e.key,
                    message=e.message, action=e.action)
        for e in reversed(await state.log.recent_errors(10))
    ]
    set_conditions(status, run, outcomes, settings, now)
    return status


def set_conditions(status: VismaIntegrationStatus, run: TenantRun,
                   outcomes: dict[str, LoopOutcome], settings: SettingsCheck | None,
                   now: datetime) -> None:
    """Active, SettingsValid, Synced, CleanupHeld and the summary Ready (metav1.Condition
    shape)."""
    generation = run.tenant.generation
    enabled = run.tenant.spec.enabled

    def put(kind: ConditionType, ok: bool, reason: str, message: str) -> None:
        status.set_condition(kind.value, ok, reason, message, now=now,
                             observed_generation=generation)

    put(ConditionType.ACTIVE, enabled, "Enabled" if enabled else "Disabled",
        "The integration runs." if enabled
        else "spec.enabled is false: nothing is fetched or sent (S-73).")
    if settings is not None:
        put(ConditionType.SETTINGS_VALID, settings.valid,
            "SettingsValid" if settings.valid
            else ("CompanyUnreachable" if not settings.company_reachable else "SettingsInvalid"),
            settings.message)
    masterdata = outcomes.get("masterdata")
    if masterdata is not None:
        put(ConditionType.SYNCED, masterdata.ok,
            "ReconcileSuccess" if masterdata.ok else "ReconcileError",
            "Master data is in step with Visma.net." if masterdata.ok
            else masterdata.error or "The last master-data pass failed.")
    cleanup = outcomes.get("cleanup")
    if cleanup is not None and "held" in cleanup.summary:
        held: dict[str, str] = cleanup.summary["held"]
        put(ConditionType.CLEANUP_HELD, bool(held),
            "RemovalLimitReached" if held else "WithinRemovalLimit",
            (" ".join(held.values()) + " Check Visma.net; if the removals are right, raise "
             "spec.cleanup.maxRemovalPercent.") if held
            else "The last cleanup was not held by spec.cleanup.maxRemovalPercent.")
    synced = status.get_condition(ConditionType.SYNCED.value)
    valid = status.get_condition(ConditionType.SETTINGS_VALID.value)
    ready = (enabled and valid is not None and valid.status == "True"
             and synced is not None and synced.status == "True")
    if not enabled:
        reason, message = "Disabled", "The integration is disabled."
    elif ready:
        reason, message = "Available", "Settings are valid and master data is in step."
    else:
        problems = [c.message for c in (valid, synced) if c is not None and c.status != "True"]
        reason = "Unavailable" if problems else "Starting"
        message = "; ".join(problems) or "Waiting for the first passes."
    put(ConditionType.READY, ready, reason, message)


def _without_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timestamps(v) for k, v in value.items()
                if k not in ("lastSuccessTime", "nextRunTime")}
    if isinstance(value, list):
        return [_without_timestamps(v) for v in value]
    return value


def worth_patching(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when anything but a pass's own timestamps changed, or those moved by more than
    a few minutes."""
    if _without_timestamps(old) != _without_timestamps(new):
        return True
    for section in ("masterData", "cleanup", "orders", "imports"):
        before = (old.get(section) or {}).get("lastSuccessTime")
        after = (new.get(section) or {}).get("lastSuccessTime")
        if after and (not before or datetime.fromisoformat(after)
                      - datetime.fromisoformat(before) >= TIMESTAMP_SLACK):
            return True
    return False
