"""A tenant's `status` (S-81), computed from the store and the latest loop outcomes.

Each loop renders its own section (`status.<loop name>`) and the conditions its latest pass
sets (`Synced` from master data, `CleanupHeld` from cleanup); this module adds what belongs to
the tenant: generation, company, activation, recent errors, `Active`, `SettingsValid` and the
summary `Ready`.

`worth_patching` keeps status writes down: a pass that changed nothing but its own timestamps
patches at most every few minutes (each PATCH is a watch event for every client).

Status is built after every pass, so it reads the store no more than it must
(`StoreReads`): the schedule rows every time; a section made from the store alone
(`STORE_SECTIONS`), the activation and the integration log's errors only when this process
wrote to what they are read from since the previous status, when a pass of another process
completed since (a schedule row says so), when a loop that writes there failed its latest
pass (it may have written part), or when they were last read `REFRESH` ago; otherwise the
previous section stays, with the schedule's times. An idle pass adds one store read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconcilers.loops.activation import SettingsCheck
from reconcilers.loops.base import field_named
from reconcilers.resource.spec import VismaIntegrationSpec, WipeKind
from reconcilers.resource.status import (
    RECENT_ERRORS_LIMIT,
    ActivationStatus,
    ConditionType,
    RecentError,
    VismaIntegrationStatus,
)
from reconcilers.runtime.runner import LOOPS, AnyLoop, LoopOutcome, TenantRun
from reconcilers.store import TenantState
from reconcilers.store.records import LoopSchedule

log = logging.getLogger(__name__)

TIMESTAMP_SLACK = timedelta(minutes=5)
REFRESH = timedelta(minutes=5)
"""However little this process wrote, status reads everything again this often: what
another process wrote (a `simon-visma run` beside the operator) shows within it."""


@dataclass(frozen=True)
class StoreSection:
    """A loop's status section made from the store alone."""

    loops: tuple[str, ...]
    """The loops whose passes change what it counts (cleanup removes what master data
    mirrored), by key."""
    parts: tuple[str, ...]
    """The parts of `TenantState` it is read from."""


STORE_SECTIONS: dict[str, StoreSection] = {
    "masterdata": StoreSection(("masterdata", "cleanup"), ("links", "marks", "first_imports")),
    "orders": StoreSection(("orders",), ("ledger",)),
    "imports": StoreSection(("imports",), ("imported_orders",)),
}
"""The sections made from the store alone, by loop key."""
READ_PARTS = ("activation", "log", *sorted({part for section in STORE_SECTIONS.values()
                                             for part in section.parts}))
"""The parts of `TenantState` status reads (besides the schedule rows)."""


@dataclass
class StoreReads:
    """What status last read from the store for one tenant's state, so that the next status
    reads again only what may have changed (see the module)."""

    state: TenantState | None = None
    """The state read (a new run of the tenant has a new one: everything is read again)."""
    writes: dict[str, int] = field(default_factory=dict)
    """Each part's `writes` when it was last read (absent: not read, or the read failed)."""
    logged: list[RecentError] = field(default_factory=list)
    """The integration log's unresolved errors as last read, oldest first."""
    read_at: datetime | None = None
    """When everything was last read."""

    def stale(self, state: TenantState, now: datetime) -> set[str]:
        """The parts to read again: those written through `state` since they were read;
        all of them for a new state or once `REFRESH` passed."""
        if (self.state is not state or self.read_at is None
                or now - self.read_at >= REFRESH or now < self.read_at):
            return set(READ_PARTS)
        return {part for part in READ_PARTS
                if self.writes.get(part) != getattr(state, part).writes}


TABLE_NAMES = {"workorder": "work order", "customer": "customer",
               "workaddress": "work address", "item": "item"}


async def build_status(
    run: TenantRun,
    previous: VismaIntegrationStatus,
    outcomes: Mapping[str, LoopOutcome],
    settings: SettingsCheck | None,
    now: datetime,
    reads: StoreReads | None = None,
) -> VismaIntegrationStatus:
    """The status for the tenant as it is now; `outcomes` are the latest pass of each loop
    that ran in this process, by loop key. `reads` is what the previous status read (updated
    here); without it everything is read."""
    reads = reads if reads is not None else StoreReads()
    spec, state = run.tenant.spec, run.state
    status = previous.model_copy(deep=True)
    status.observed_generation = run.tenant.generation
    status.company_id = spec.visma.company_id
    stale = reads.stale(state, now)
    everything = stale == set(READ_PARTS)
    writes = {part: getattr(state, part).writes for part in READ_PARTS}  # before reading
    schedules = await state.schedules.all()
    if any(_ran_elsewhere(loop.key, previous, outcomes, schedules) for loop in LOOPS):
        stale.add("log")  # that pass may have logged
    if "activation" in stale:
        activation = await state.activation.get()
        if activation is not None:
            status.activation = ActivationStatus(
                activated_at=activation.activated_at,
                event="first" if activation.is_first_activation else "reactivation",
                wiped=[WipeKind(kind) for kind in activation.wiped_kinds] or None)
    unchanged = status.activation == previous.activation
    for loop in LOOPS:
        outcome = outcomes.get(loop.key)
        attribute = field_named(VismaIntegrationStatus, loop.name)
        kept = getattr(status, attribute)
        if unchanged and _still_true(loop, kept, previous, outcomes, schedules, stale):
            schedule = schedules.get(loop.key)
            setattr(status, attribute, kept.model_copy(update={
                "last_success_time": schedule.last_success_at if schedule else None}))
            continue
        try:
            section = await loop.status(
                state, schedules.get(loop.key),
                outcome.result if outcome is not None and outcome.ok else None,
                getattr(status, attribute))
        except Exception:  # the store: the section stays as it was, the conditions are told
            log.exception("%s: the %s section of status could not be read", run.tenant.key,
                          loop.key)
            for part in STORE_SECTIONS[loop.key].parts if loop.key in STORE_SECTIONS else ():
                writes.pop(part, None)  # read again next time
            continue
        setattr(status, attribute, section)

    if "log" in stale:
        reads.logged = [
            RecentError(time=e.time, table=TABLE_NAMES.get(e.table.value, e.table.value),
                        key=e.key, message=e.message, action=e.action)
            for e in reversed(await state.log.recent_errors(RECENT_ERRORS_LIMIT))
        ]
    failing = loop_errors(run, outcomes, previous, now)
    room = RECENT_ERRORS_LIMIT - len(failing)
    status.recent_errors = [*(reads.logged[-room:] if room > 0 else []), *failing]
    status.error_count = len(status.recent_errors)
    set_conditions(status, run, outcomes, settings, now, schedules)
    reads.state, reads.writes = state, writes
    if everything:
        reads.read_at = now
    return status


def _still_true(loop: AnyLoop, section: Any, previous: VismaIntegrationStatus,
                outcomes: Mapping[str, LoopOutcome], schedules: Mapping[str, LoopSchedule],
                stale: set[str]) -> bool:
    """The loop's section in `previous` still says what the store would: it is made from the
    store alone, none of the parts it is read from is `stale`, no loop that changes what it
    counts failed its latest pass, and none completed a pass in another process since (its
    stored success is the one shown or this process's latest)."""
    made = STORE_SECTIONS.get(loop.key)
    if made is None or section is None or stale.intersection(made.parts):
        return False
    for key in made.loops:
        outcome = outcomes.get(key)
        if outcome is not None and not outcome.ok:
            return False
        if _ran_elsewhere(key, previous, outcomes, schedules):
            return False
    return True


def _ran_elsewhere(key: str, previous: VismaIntegrationStatus,
                   outcomes: Mapping[str, LoopOutcome],
                   schedules: Mapping[str, LoopSchedule]) -> bool:
    """A pass of loop `key` completed in another process since `previous`: its stored success
    is neither the one shown nor this process's latest."""
    outcome = outcomes.get(key)
    shown = getattr(previous, field_named(VismaIntegrationStatus, _loop(key).name))
    schedule = schedules.get(key)
    stored = schedule.last_success_at if schedule is not None else None
    return stored not in (getattr(shown, "last_success_time", None),
                          outcome.succeeded_at if outcome is not None else None)


def _loop(key: str) -> AnyLoop:
    return next(loop for loop in LOOPS if loop.key == key)


def loop_errors(run: TenantRun, outcomes: Mapping[str, LoopOutcome],
                previous: VismaIntegrationStatus, now: datetime) -> list[RecentError]:
    """One entry for each loop whose last pass failed, listed after the integration log's
    errors (so the Errors column counts them); its time is when status first listed it."""
    since = {e.message: e.time for e in previous.recent_errors or [] if e.table is None}
    errors = []
    for loop in LOOPS:
        outcome = outcomes.get(loop.key)
        if outcome is not None and outcome.error is not None:
            message = failing_message(run, loop, outcome.error)
            errors.append(RecentError(time=since.get(message, now), message=message))
    return errors[-RECENT_ERRORS_LIMIT:]


LOOP_WORDS = {"masterdata": "master-data", "cleanup": "cleanup", "orders": "orders",
              "imports": "imports"}
"""How a user reads a loop's name in a message."""

_REFUSED = re.compile(r"^(?:.*: )?(simon|visma\.net) 40[13]\b", re.IGNORECASE)


def failing_reason(loop: AnyLoop) -> str:
    """The Ready reason for a loop whose last pass failed: `OrdersFailing`,
    `MasterDataFailing`, ..."""
    return f"{loop.name[0].upper()}{loop.name[1:]}Failing"


def failing_message(run: TenantRun, loop: AnyLoop, error: str) -> str:
    """What a user reads when a loop's last pass failed: the loop, the error and, when an
    API refused the credentials, which Secret to fix."""
    message = f"The {LOOP_WORDS.get(loop.key, loop.key)} loop could not complete: {error}"
    return with_credentials_advice(message, run.tenant.spec, error)


def with_credentials_advice(message: str, spec: VismaIntegrationSpec, error: str) -> str:
    """`message` ended with a full stop and, when `error` says an API refused the
    credentials, which Secret and keys to fix."""
    if not message.endswith("."):
        message += "."
    refused = _REFUSED.search(error)
    if refused is not None:
        if refused.group(1).lower() == "simon":
            message += (f" Simon refused the credentials: fix the Secret "
                        f"{spec.simon.credentials_secret_ref.name} (keys username, password "
                        f"and licenseKey).")
        else:
            message += (f" Visma.net refused the credentials: fix the Secret "
                        f"{spec.visma.credentials_secret_ref.name} (keys clientId and "
                        f"clientSecret).")
    return message


def set_conditions(status: VismaIntegrationStatus, run: TenantRun,
                   outcomes: Mapping[str, LoopOutcome], settings: SettingsCheck | None,
                   now: datetime, schedules: Mapping[str, LoopSchedule] | None = None) -> None:
    """Active, SettingsValid, the loops' own (Synced, CleanupHeld) and the summary Ready
    (metav1.Condition shape).

    Ready is True when the settings are valid and every loop's last pass completed, or the
    loop is not due yet (its stored due time, `schedules` by loop key, is still ahead);
    otherwise False: the settings' problem, else the first loop whose last pass failed
    (reason `<Loop>Failing`, its error), else the loops still waiting for a first pass."""
    generation = run.tenant.generation
    enabled = run.tenant.spec.enabled
    schedules = schedules or {}

    def put(kind: ConditionType, ok: bool, reason: str, message: str) -> None:
        status.set_condition(kind.value, ok, reason, message, now=now,
                             observed_generation=generation)

    put(ConditionType.ACTIVE, enabled, "Enabled" if enabled else "Disabled",
        "The integration runs." if enabled
        else "spec.enabled is false: nothing is fetched or sent.")
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
    valid = status.get_condition(ConditionType.SETTINGS_VALID.value)
    failing = [(loop, outcome.error) for loop in LOOPS
               if (outcome := outcomes.get(loop.key)) is not None and outcome.error is not None]
    waiting = [loop for loop in LOOPS if loop.key not in outcomes
               and not _not_due_yet(schedules.get(loop.key), now)]
    if not enabled:
        ready, reason, message = False, "Disabled", "The integration is disabled."
    elif valid is None or valid.status != "True":
        ready, reason = False, "Unavailable" if valid is not None else "Starting"
        message = valid.message if valid is not None else "Waiting for the settings check."
    elif failing:
        loop, error = failing[0]
        ready, reason = False, failing_reason(loop)
        message = " ".join(failing_message(run, loop, error) for loop, error in failing)
    elif waiting:
        ready, reason = False, "Starting"
        message = ("Waiting for the first pass of the "
                   f"{_words([LOOP_WORDS.get(loop.key, loop.key) for loop in waiting])} "
                   f"loop{'s' if len(waiting) > 1 else ''}.")
    else:
        ready, reason, message = True, "Available", "Settings are valid and every loop completes."
    put(ConditionType.READY, ready, reason, message)


def _not_due_yet(schedule: LoopSchedule | None, now: datetime) -> bool:
    return (schedule is not None and schedule.next_run_at is not None
            and schedule.next_run_at > now)


def _words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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
