"""One tenant under the operator: follow its spec, run its loops, report its status.

Free of kopf and of any Kubernetes client: the operator hands in how to read the live
resource, read a Secret of the resource's namespace, patch `status` and post an Event.

A spec change (a new `metadata.generation`) does what it means, and no more (`SpecChange`):

- The service's start, and `enabled` false -> true: the Secrets are read, the clients built,
  the tenant activated (S-72: the wipe, once per activation), the settings checked (S-71)
  and the loops started.
- `enabled: false` stops every loop at once; nothing is fetched or sent (S-73).
- Where and as whom the operator talks to Visma.net or Simon (URLs, tenant and company ids,
  credentials Secret refs): the loops stop, the Secrets are read again, the clients rebuilt,
  the settings checked again, and the loops start again.
- What else the settings check looks at (document type, the work, travel and fixed items,
  the warehouses): the settings are checked again with the same clients; the loops go on
  (work-order pushes wait while the check fails).
- The schedule: the stored due times are planned again (reconcilers/runtime/schedule.py), so
  a shorter interval takes effect at once.
- Everything else (notes, references, attachments, the skip word, imports, cleanup's removal
  limit, the wipe lists): the next pass of each loop reads the spec as it is then.

Loops start only once Visma.net answered the settings check, so the activation wipe always
comes before the first master-data pass; until then, and after a check that found Visma.net
unreachable, the start is retried every minute. The tenant's two Secrets are read again every
`secrets_poll` seconds (by name, the only access the operator has to Secrets); a change to
their data (a rotated or a fixed password, a Secret created or deleted), or
`secrets_changed()`, does what a connection change does, without a spec change. Status is
patched when something changed (reconcilers/runtime/status.py); Events mark transitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from reconcilers.clients.http import RetryPolicy
from reconcilers.resource.credentials import (
    CredentialsError,
    SimonCredentials,
    VismaCredentials,
    resolve,
)
from reconcilers.resource.spec import TenantSpecError, VismaIntegrationSpec
from reconcilers.resource.status import ConditionType, VismaIntegrationStatus
from reconcilers.resource.tenant import Tenant, tenant_from_body
from reconcilers.runtime import logs, metrics
from reconcilers.runtime.runner import LOOPS, LoopOutcome, TenantRun, build_clients
from reconcilers.runtime.schedule import Wakeup, replan, run_on_schedule
from reconcilers.runtime.status import build_status, worth_patching
from reconcilers.store import Store
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

RECHECK = timedelta(minutes=1)
POLL_SECONDS = 1.0
SECRETS_POLL_SECONDS = 10.0

CHECKED_ORDER_SETTINGS = ("document_type", "work_time_item", "travel_time_item", "fixed_item",
                          "default_warehouse", "warehouse_by_user")
"""The `spec.orders` fields the settings check reads (S-71)."""


ACTIVATED = {
    "first": "Activated for the first time (first activation): this Simon licence and Visma.net "
             "company were not set up together before, so Simon is emptied of the kinds in "
             "spec.activation.wipeOnFirstActivation.",
    "reactivation": "Activated again (reactivation): enabled again, or this Simon licence and "
                    "Visma.net company were set up together before, so only the kinds in "
                    "spec.activation.wipeOnReactivation are emptied.",
}
"""The Activated Event's message per activation event."""

@dataclass
class Kubernetes:
    """What the service needs from Kubernetes, supplied by the operator."""

    body: Callable[[], Mapping[str, Any]]
    """The live resource (metadata, spec, status)."""
    read_secret: Callable[[str], Awaitable[dict[str, str] | None]]
    """A Secret of the resource's own namespace by name, decoded; None when absent (S-82)."""
    patch_status: Callable[[dict[str, Any]], Awaitable[None]]
    event: Callable[[str, str, str], Awaitable[None]]
    """(type Normal|Warning, reason, message)."""


@dataclass(frozen=True)
class SpecChange:
    """What a spec change asks of a running tenant."""

    enabling: bool = False
    """`enabled` false -> true: activate (S-72, S-73)."""
    disabling: bool = False
    """`enabled` true -> false: stop every loop (S-73)."""
    connection: bool = False
    """Visma.net or Simon URLs, ids or credentials Secret refs: new clients, a new check."""
    checked: bool = False
    """Settings the check reads (document type, items, warehouses): a new check (S-71)."""
    schedule: bool = False
    """Intervals: the due times are planned again."""


def spec_change(old: VismaIntegrationSpec, new: VismaIntegrationSpec) -> SpecChange:
    """What changed from `old` to `new`, as far as it asks for more than the next pass reading
    the new spec."""
    return SpecChange(
        enabling=new.enabled and not old.enabled,
        disabling=old.enabled and not new.enabled,
        connection=old.visma != new.visma or old.simon != new.simon,
        checked=any(getattr(old.orders, name) != getattr(new.orders, name)
                    for name in CHECKED_ORDER_SETTINGS),
        schedule=old.schedule != new.schedule,
    )


class TenantService:
    def __init__(self, kube: Kubernetes, store: Store, policy: RetryPolicy | None = None, *,
                 poll_seconds: float = POLL_SECONDS, recheck: timedelta = RECHECK,
                 secrets_poll: float = SECRETS_POLL_SECONDS) -> None:
        self.kube = kube
        self.store = store
        self.policy = policy
        self.poll_seconds = poll_seconds
        """How often the live resource is looked at for a new generation."""
        self.recheck = recheck
        """How often a start that could not start the loops is tried again."""
        self.secrets_poll = secrets_poll
        """How often, in seconds, the Secrets are read to see whether their data changed."""
        self._secrets_seen: str | None = None
        """A digest of the Secrets as last read for the clients (never the data itself)."""
        self._secrets_dirty = False
        body = kube.body()
        metadata = body.get("metadata") or {}
        self.key = f"{metadata.get('namespace') or 'default'}/{metadata.get('name')}"
        """The tenant's "namespace/name", the labels of its metrics and log lines."""
        self.status = VismaIntegrationStatus.model_validate(dict(body.get("status") or {}))
        self.patched: dict[str, Any] = self.status.to_wire()
        self.outcomes: dict[str, LoopOutcome] = {}
        """The latest pass of each loop, by loop key."""
        self.run: TenantRun | None = None
        self._loops: asyncio.Task[None] | None = None
        self._loops_stop = asyncio.Event()
        self._wakeup = Wakeup()
        self._reporting = asyncio.Lock()

    def _generation(self) -> int | None:
        return (self.kube.body().get("metadata") or {}).get("generation")

    @property
    def loops_running(self) -> bool:
        return self._loops is not None

    def _waiting(self) -> bool:
        """The tenant should run but its loops have not started (no usable spec or Secrets,
        or Visma.net not reachable): its start is retried every `recheck`."""
        return self._loops is None and (self.run is None or self.run.tenant.spec.enabled)

    def secrets_changed(self) -> None:
        """A Secret of the tenant changed: at its next poll the service reads the Secrets
        again, rebuilds the clients and checks the settings, as for a connection change."""
        self._secrets_dirty = True

    async def serve(self, stop: asyncio.Event) -> None:
        logs.about_tenant(self.key)  # this task's log lines (and its loops') name the tenant
        metrics.started(self.key)
        generation: int | None = None
        started = False
        retry_at = utc_now()
        secrets_at = utc_now() + timedelta(seconds=self.secrets_poll)
        try:
            while not stop.is_set():
                if started and utc_now() >= secrets_at:
                    secrets_at = utc_now() + timedelta(seconds=self.secrets_poll)
                    await self._look_at_secrets()
                if (not started or self._generation() != generation or self._secrets_dirty
                        or (self._waiting() and utc_now() >= retry_at)):
                    secrets = started and self._secrets_dirty
                    started = True
                    self._secrets_dirty = False
                    generation = self._generation()
                    await self._apply(secrets=secrets)
                    retry_at = utc_now() + self.recheck
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            await self._stop_loops()
            await self._close_run()
            metrics.forget(self.key)  # served elsewhere now, or deleted: its series go

    async def _look_at_secrets(self) -> None:
        """Read the Secrets the clients were built from; a change asks for a reconnect."""
        if self._secrets_seen is None:
            return
        try:
            tenant = tenant_from_body(self.kube.body())
            seen = await self._secrets_digest(tenant)
        except Exception as error:  # the next start or check reports it; never the data
            log.warning("could not read the Secrets of a tenant: %s", type(error).__name__)
            return
        if seen != self._secrets_seen:
            self.secrets_changed()

    async def _apply(self, *, secrets: bool = False) -> None:
        """Bring the tenant in line with the live resource's spec (see the module); with
        `secrets`, the Secrets changed: reconnect as for a connection change."""
        body = self.kube.body()
        try:
            tenant = tenant_from_body(body)
        except TenantSpecError as error:  # the CRD refuses most of these already
            await self._stop_loops()
            await self._close_run()
            await self._invalid("SpecInvalid", str(error), body)
            return
        run = self.run
        if run is None or (tenant.spec.enabled and self._loops is None):
            await self._start(tenant)  # the first start, enabling, or a start retried
            return
        change = spec_change(run.tenant.spec, tenant.spec)
        if secrets:
            change = dataclasses.replace(change, connection=True)
        if not tenant.spec.enabled:
            if change.disabling:
                await self._disable(run)
            run.tenant = tenant  # nothing runs; enabling starts afresh with this spec
            if change.connection or change.checked:
                run.settings = None  # not checked while disabled: SettingsValid stays as it was
        elif change.connection:
            if not await self._reconnect(tenant):
                return
        else:
            run.tenant = tenant
            if change.checked:
                await self._check(run)
        if change.schedule and self.run is not None:
            await replan(self.run, LOOPS)
            self._wakeup.wake()
        await self._report()

    async def _start(self, tenant: Tenant) -> None:
        """Start the tenant afresh: Secrets, clients, activation with the settings check
        (S-71 to S-73), loops."""
        await self._stop_loops()
        await self._close_run()
        try:
            visma, simon = await self._credentials(tenant)
        except CredentialsError as error:
            await self._invalid("SecretInvalid", str(error), self.kube.body())
            return
        visma_client, simon_client = build_clients(tenant, visma, simon, self.policy)
        run = self.run = TenantRun(tenant, visma_client, simon_client,
                                   self.store.tenant(tenant.key))
        was_enabled = self.status.get_condition(ConditionType.ACTIVE.value)
        activation = await run.activate()
        if activation.event.value != "none":
            await self.kube.event("Normal", "Activated", ACTIVATED[activation.event.value])
        if activation.wiped:
            wiped = ", ".join(f"{n} {kind}" for kind, n in activation.wiped.items())
            await self.kube.event("Normal", "Wiped", f"Activation wipe removed from Simon: "
                                  f"{wiped}.")
        if not tenant.spec.enabled:
            if was_enabled is None or was_enabled.status == "True":
                await self._disabled_event()
        elif not activation.settings.valid:
            await self.kube.event("Warning", "SettingsInvalid", activation.settings.message)
        await self._report()
        if tenant.spec.enabled and activation.settings.company_reachable:
            self._start_loops(run)

    async def _disable(self, run: TenantRun) -> None:
        """S-73: every loop stops at once; the store notes it, so that enabling again is a
        re-activation (S-72)."""
        await self._stop_loops()
        await run.deactivate()
        await self._disabled_event()

    async def _reconnect(self, tenant: Tenant) -> bool:
        """New Visma.net or Simon connection settings: the loops stop, the Secrets are read
        again, the clients rebuilt and the settings checked (S-71); the loops start again
        once Visma.net answers. False when the Secrets are not usable."""
        await self._stop_loops()
        await self._close_run()
        try:
            visma, simon = await self._credentials(tenant)
        except CredentialsError as error:
            await self._invalid("SecretInvalid", str(error), self.kube.body())
            return False
        visma_client, simon_client = build_clients(tenant, visma, simon, self.policy)
        run = self.run = TenantRun(tenant, visma_client, simon_client,
                                   self.store.tenant(tenant.key))
        await self._check(run)
        return True

    async def _check(self, run: TenantRun) -> None:
        """The settings check again (S-71). The loops keep running while Visma.net answers
        (work-order pushes wait while the check fails); when it does not, they stop and the
        start is retried every `recheck`."""
        settings = await run.check()
        if not settings.valid:
            await self.kube.event("Warning", "SettingsInvalid", settings.message)
        if not settings.company_reachable:
            await self._stop_loops()
        elif self._loops is None:
            self._start_loops(run)

    async def _disabled_event(self) -> None:
        await self.kube.event("Normal", "Disabled",
                              "spec.enabled is false: every loop stopped; nothing is fetched or "
                              "sent until it is true again.")

    async def _read_secrets(self, tenant: Tenant) -> dict[str, dict[str, str]]:
        secrets: dict[str, dict[str, str]] = {}
        for ref in (tenant.spec.visma.credentials_secret_ref,
                    tenant.spec.simon.credentials_secret_ref):
            data = await self.kube.read_secret(ref.name)
            if data is not None:
                secrets[ref.name] = data
        return secrets

    @staticmethod
    def _digest(tenant: Tenant, secrets: dict[str, dict[str, str]]) -> str:
        names = (tenant.spec.visma.credentials_secret_ref.name,
                 tenant.spec.simon.credentials_secret_ref.name)
        seen = repr([(name, sorted((secrets.get(name) or {}).items()), name in secrets)
                     for name in names])
        return hashlib.sha256(seen.encode()).hexdigest()

    async def _secrets_digest(self, tenant: Tenant) -> str:
        return self._digest(tenant, await self._read_secrets(tenant))

    async def _credentials(self, tenant: Tenant) -> tuple[VismaCredentials, SimonCredentials]:
        try:
            secrets = await self._read_secrets(tenant)
        except CredentialsError:
            self._secrets_seen = None
            raise
        self._secrets_seen = self._digest(tenant, secrets)
        return resolve(tenant, secrets)

    async def _invalid(self, reason: str, message: str, body: Mapping[str, Any]) -> None:
        generation = (body.get("metadata") or {}).get("generation")
        now = utc_now()
        for kind in (ConditionType.SETTINGS_VALID, ConditionType.READY):
            self.status.set_condition(kind.value, False, reason, message, now=now,
                                      observed_generation=generation)
        self.status.observed_generation = generation
        await self.kube.event("Warning", reason, message)
        await self._patch(force=True)

    def _start_loops(self, run: TenantRun) -> None:
        self._loops_stop = asyncio.Event()
        self._wakeup = Wakeup()
        self._loops = asyncio.create_task(run_on_schedule(
            run, LOOPS, self._loops_stop, self._on_outcome, wakeup=self._wakeup))

    async def _stop_loops(self) -> None:
        if self._loops is None:
            return
        self._loops_stop.set()
        self._loops.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loops
        self._loops = None

    async def _close_run(self) -> None:
        if self.run is not None:
            await self.run.close()
            self.run = None

    async def _on_outcome(self, outcome: LoopOutcome) -> None:
        assert self.run is not None
        loop = outcome.loop.key
        before = self.outcomes.get(loop)
        self.outcomes[loop] = outcome
        metrics.observe(self.key, outcome)
        if not outcome.ok and (before is None or before.ok):
            await self.kube.event("Warning", "LoopFailed",
                                  f"The {loop} loop could not complete: {outcome.error}")
        elif outcome.ok and before is not None and not before.ok:
            await self.kube.event("Normal", "LoopRecovered", f"The {loop} loop completes again.")
        await self._report()

    async def _report(self) -> None:
        async with self._reporting:  # one at a time, so the last one built is the newest
            assert self.run is not None
            self.status = await build_status(self.run, self.status, self.outcomes,
                                             self.run.settings, utc_now())
            await self._patch()

    async def _patch(self, *, force: bool = False) -> None:
        metrics.report(self.key, self.status)
        wire = self.status.to_wire()
        if force or worth_patching(self.patched, wire):
            await self.kube.patch_status(wire)
            self.patched = wire
