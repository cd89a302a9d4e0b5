"""A tenant's `status` (S-81), computed from the store and the latest loop outcomes.

Each loop renders its own section (`status.<loop name>`) and the conditions its latest pass
sets (`Synced` from master data, `CleanupHeld` from cleanup); this module adds what belongs to
the tenant: generation, company, activation, recent errors, `Active`, `SettingsValid` and the
summary `Ready`.

`worth_patching` keeps status writes down: a pass that changed nothing but its own timestamps
patches at most every few minutes (each PATCH is a watch event for every client).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from reconcilers.loops.activation import SettingsCheck
from reconcilers.loops.base import field_named
from reconcilers.resource.spec import WipeKind
from reconcilers.resource.status import (
    ActivationStatus,
    ConditionType,
    RecentError,
    VismaIntegrationStatus,
)
from reconcilers.runtime.runner import LOOPS, LoopOutcome, TenantRun

TIMESTAMP_SLACK = timedelta(minutes=5)
TABLE_NAMES = {"workorder": "work order", "customer": "customer",
               "workaddress": "work address", "item": "item"}


async def build_status(
    run: TenantRun,
    previous: VismaIntegrationStatus,
    outcomes: Mapping[str, LoopOutcome],
    settings: SettingsCheck | None,
    now: datetime,
) -> VismaIntegrationStatus:
    """The status for the tenant as it is now; `outcomes` are the latest pass of each loop
    that ran in this process, by loop key."""
    spec, state = run.tenant.spec, run.state
    status = previous.model_copy(deep=True)
    status.observed_generation = run.tenant.generation
    status.company_id = spec.visma.company_id
    schedules = await state.schedules.all()
    for loop in LOOPS:
        outcome = outcomes.get(loop.key)
        field = field_named(VismaIntegrationStatus, loop.name)
        setattr(status, field, await loop.status(
            state, schedules.get(loop.key),
            outcome.result if outcome is not None and outcome.ok else None,
            getattr(status, field)))

    activation = await state.activation.get()
    if activation is not None:
        status.activation = ActivationStatus(
            activated_at=activation.activated_at,
            wiped=[WipeKind(kind) for kind in activation.wiped_kinds] or None)
    status.recent_errors = [
        RecentError(time=e.time, table=TABLE_NAMES.get(e.table.value, e.table.value), key=e.key,
                    message=e.message, action=e.action)
        for e in reversed(await state.log.recent_errors(10))
    ]
    set_conditions(status, run, outcomes, settings, now)
    return status


def set_conditions(status: VismaIntegrationStatus, run: TenantRun,
                   outcomes: Mapping[str, LoopOutcome], settings: SettingsCheck | None,
                   now: datetime) -> None:
    """Active, SettingsValid, the loops' own (Synced, CleanupHeld) and the summary Ready
    (metav1.Condition shape)."""
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
    for loop in LOOPS:
        outcome = outcomes.get(loop.key)
        if outcome is not None:
            for update in loop.conditions(outcome.result, outcome.error):
                put(update.type, update.ok, update.reason, update.message)
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
    for loop in LOOPS:
        before = (old.get(loop.name) or {}).get("lastSuccessTime")
        after = (new.get(loop.name) or {}).get("lastSuccessTime")
        if after and (not before or datetime.fromisoformat(after)
                      - datetime.fromisoformat(before) >= TIMESTAMP_SLACK):
            return True
    return False
