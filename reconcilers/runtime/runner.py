"""One tenant's integration, free of kopf: clients, activation and the loops.

The CLI's standalone mode and the operator both run a tenant through this module, so they
behave the same (DESIGN.md section 4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from reconcilers.clients.http import ApiError, RetryPolicy
from reconcilers.clients.simon.client import SimonClient
from reconcilers.clients.visma.client import VismaClient
from reconcilers.loops.activation import SettingsCheck, check_settings, wipe
from reconcilers.loops.base import Loop, LoopFailed, LoopResult
from reconcilers.loops.cleanup import CleanupLoop
from reconcilers.loops.imports import ImportsLoop
from reconcilers.loops.masterdata import MasterDataLoop
from reconcilers.loops.orders import OrdersLoop
from reconcilers.resource.credentials import SimonCredentials, VismaCredentials
from reconcilers.resource.tenant import Tenant
from reconcilers.store import (
    ActivationEvent,
    ActivationPair,
    LeaseHeld,
    LeaseLost,
    TenantState,
    run_holding,
)
from reconcilers.store.leases import ACTIVATION, Ending
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

AnyLoop: TypeAlias = Loop[Any, Any]
Plan: TypeAlias = Callable[[bool, datetime], datetime]
"""A loop's next due time after a pass that ended at a moment, by whether it completed."""

LOOPS: tuple[AnyLoop, ...] = (MasterDataLoop(), CleanupLoop(), OrdersLoop(), ImportsLoop())
"""Every loop of a tenant, in the order they run once and are reported."""


def loop_named(name: str) -> AnyLoop:
    """The loop called `name`, in any case (`masterdata`, `masterData`); KeyError if none."""
    for loop in LOOPS:
        if loop.key == name.lower():
            return loop
    raise KeyError(f"no loop {name!r}; the loops are {', '.join(loop.key for loop in LOOPS)}")


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


def unexpected(error: BaseException) -> str:
    """An error no pass expects (the store, a bug) in plain words: its kind and first line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    kind = type(error).__name__
    return (f"an unexpected error ({kind}): {first}" if first
            else f"an unexpected error ({kind})")


@dataclass
class ActivationOutcome:
    event: ActivationEvent
    settings: SettingsCheck
    wiped: dict[str, int] = field(default_factory=dict)
    wipe_skipped: str | None = None
    """Why the wipe did not run here: another process is running it."""


@dataclass
class LoopOutcome:
    """One pass of one loop: what it did (`result`, None when it did nothing) and, when it
    could not complete, why (`error`). A pass that did not run because another process was
    running it (`skipped` says so) is neither a success nor a failure: the operator neither
    counts nor shows it."""

    loop: AnyLoop
    result: LoopResult | None = None
    error: str | None = None
    skipped: str | None = None
    """Why the pass did not run: another process holds the tenant's lease on it."""
    lag: float = 0.0
    """Seconds the pass started after it was due (set when run on a schedule)."""
    duration: float = 0.0
    """Seconds the pass took (set when run on a schedule)."""
    next_due: datetime | None = None
    """The next due time stored with the pass's end (when `run_loop` was given a plan and
    the store wrote it)."""
    succeeded_at: datetime | None = None
    """The pass's success as stored with its end (its schedule row's `last_success_at`),
    when it completed and the store wrote it."""

    @property
    def ok(self) -> bool:
        """The pass completed (problems with single records are log entries, not failures)."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """The pass in the `--json` summary: `ok`, what it did, and `error` when it failed;
        `ran: false` and the `reason` when another process was running it."""
        done = self.result.to_json() if self.result is not None else {}
        return {"ok": self.ok, **done, **({"error": self.error} if self.error else {}),
                **({"ran": False, "reason": self.skipped} if self.skipped else {})}


@dataclass
class TenantRun:
    """One tenant with its clients and state; what a loop's pass works with
    (`reconcilers.loops.base.LoopContext`). `tenant` is the spec as it is now: the service
    replaces it when the spec changes, and each pass reads it when it starts."""

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
        """Record an activation (S-72, S-73, S-74), check the settings (S-71), and wipe what the
        activation asks for, once, before the first master-data pass. Called when a tenant
        starts or is enabled; for one that is already active it records nothing new, and
        only finishes a wipe that could not run yet (Visma.net was not reachable)."""
        spec = self.tenant.spec
        # S-74: the Simon licence (hashed, never stored in clear) and the Visma.net company;
        # a pair activated before, under any resource, makes this a re-activation.
        pair = ActivationPair.of(str(spec.simon.url), self.simon._license_key,
                                 spec.visma.tenant_id)
        activation = await self.state.activation.begin_activation_if_needed(
            spec.enabled, now=now or utc_now(), pair=pair)
        if not spec.enabled:
            return ActivationOutcome(activation.event, SettingsCheck())
        settings = await self.check()
        outcome = ActivationOutcome(activation.event, settings)
        if settings.company_reachable:
            wanted = (spec.activation.wipe_on_first_activation
                      if activation.is_first_activation
                      else spec.activation.wipe_on_reactivation)
            if activation.remaining_wipe([str(k) for k in wanted]):
                await self._wipe_once([str(k) for k in wanted], outcome)
        return outcome

    async def _wipe_once(self, wanted: list[str], outcome: ActivationOutcome) -> None:
        """The activation's wipe under the tenant's activation lease, so that two processes
        starting the tenant together do not both wipe; what is left to wipe is read again
        once the lease is held (the other may have wiped meanwhile)."""

        async def remaining_wipe() -> dict[str, int]:
            current = await self.state.activation.get()
            remaining = current.remaining_wipe(wanted) if current is not None else []
            return (await wipe(remaining, self.simon, self.state)).removed if remaining else {}

        try:
            outcome.wiped = await run_holding(self.state.leases, ACTIVATION, remaining_wipe)
        except LeaseHeld as held:
            outcome.wipe_skipped = str(held)
            log.info("%s: %s", self.tenant.key, held)

    async def deactivate(self, now: datetime | None = None) -> None:
        """S-73: record that the tenant is disabled, so that enabling it again is a
        re-activation (S-72)."""
        await self.state.activation.begin_activation_if_needed(False, now=now or utc_now())

    async def check(self) -> SettingsCheck:
        """The settings check (S-71) against Visma.net, for the spec as it is now."""
        self.settings = await check_settings(self.tenant.spec, self.visma)
        return self.settings

    async def run_loop(self, loop: AnyLoop, plan: Plan | None = None) -> LoopOutcome:
        """One pass of one loop, holding the tenant's lease on the loop (one pass per tenant
        and loop, whatever process runs it); a failure to complete is an outcome, not an
        exception, and so is a pass skipped because another process holds the lease.
        The lease's release stores, in its one transaction, the pass's success (when it
        completed) and its next due time from `plan` (`LoopOutcome.next_due`)."""
        ended: list[tuple[datetime | None, datetime | None]] = []

        def end(completed: bool) -> Sequence[Any]:
            now = utc_now()
            due = plan(completed, now) if plan is not None else None
            if due is None and not completed:
                return ()
            ended.append((due, now if completed else None))
            return [self.state.schedules.pass_ended(loop.key, completed=completed,
                                                    next_run_at=due, now=now)]

        ending = Ending(end)
        outcome = await self._pass(loop, ending)
        if ending.written and ended:
            outcome.next_due, outcome.succeeded_at = ended[0]
        return outcome

    async def _pass(self, loop: AnyLoop, ending: Ending) -> LoopOutcome:
        try:
            result = await run_holding(self.state.leases, loop.key, lambda: loop.run(self),
                                       ending=ending)
        except LeaseHeld as held:
            log.info("%s: %s", self.tenant.key, held)
            return LoopOutcome(loop, skipped=str(held))
        except LeaseLost as lost:
            log.warning("%s: %s", self.tenant.key, lost)
            return LoopOutcome(loop, None, str(lost))
        except LoopFailed as failed:
            log.warning("%s: %s loop could not complete: %s", self.tenant.key, loop.key,
                        failed.message)
            return LoopOutcome(loop, failed.partial, failed.message)
        except ApiError as error:
            log.warning("%s: %s loop could not complete: %s", self.tenant.key, loop.key, error)
            return LoopOutcome(loop, None, str(error))
        except Exception as error:  # the store, a bug: the pass failed, the loop goes on
            log.exception("%s: %s loop failed unexpectedly", self.tenant.key, loop.key)
            return LoopOutcome(loop, None, unexpected(error))
        return LoopOutcome(loop, result)

    async def close(self) -> None:
        await self.visma.aclose()
        await self.simon.aclose()
