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
unreachable, the start is retried every minute.

The service looks at the live resource when the operator tells it that it changed
(`Kubernetes.changes`: a watch event, a Secret change), and otherwise every `poll_seconds`
(a safety net, and the retry of a start that failed). The operator watches the Secrets of its
namespaces; the service names its tenant's two in a
`SecretIndex` (reconcilers/runtime/secret_index.py), and the watch calls `secrets_changed()`
for a change to one of them. The service then reads them again (by name) and, when their data
is not what the clients were built from (a rotated or a fixed password, a Secret created or
deleted), does what a connection change does, without a spec change.

A new value of the annotation `simon-visma.io/run-requested-at` (no spec change, no new
generation) makes every loop run a pass now; once each has completed one, the value is
recorded in `status.lastRunRequest`, so a restart does not run them again for it. A tenant
whose start waits for its retry is started again at once. Status is patched when something
changed (reconcilers/runtime/status.py); Events mark transitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from reconcilers.clients.http import ApiError, RetryPolicy
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
from reconcilers.runtime.changes import Changes
from reconcilers.runtime.runner import LOOPS, LoopOutcome, TenantRun, build_clients, unexpected
from reconcilers.runtime.schedule import Wakeup, replan, run_on_schedule, sleep_until
from reconcilers.runtime.secret_index import SecretIndex
from reconcilers.runtime.status import (
    StoreReads,
    build_status,
    failing_message,
    with_credentials_advice,
    worth_patching,
)
from reconcilers.store import Store
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

RECHECK = timedelta(minutes=1)
POLL_SECONDS = 15.0
RUN_REQUESTED_ANNOTATION = "simon-visma.io/run-requested-at"
"""An annotation on the resource: a new value (any text, e.g. the time) asks for a pass of
every loop now, as Flux's reconcile.fluxcd.io/requestedAt does."""

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
    changes: Changes = field(default_factory=Changes)
    """Notified (by the operator's watch) when the live resource changed."""


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
                 secret_index: SecretIndex | None = None) -> None:
        self.kube = kube
        self.store = store
        self.policy = policy
        self.poll_seconds = poll_seconds
        """How often the live resource is looked at for a new generation, a run request
        and a Secret change when no change was told (`Kubernetes.changes`)."""
        self.recheck = recheck
        """How often a start that could not start the loops is tried again."""
        self.secret_index = secret_index
        """Where the service names the Secrets it reads, so the operator's watch of Secrets
        tells it of a change (`secrets_changed`)."""
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
        self._reads = StoreReads()
        """What the latest status read from the store."""
        self.run: TenantRun | None = None
        self._loops: asyncio.Task[None] | None = None
        self._loops_stop = asyncio.Event()
        self._wakeup = Wakeup()
        self._reporting = asyncio.Lock()
        self.run_request_handled = self.status.last_run_request
        """The latest run-now request answered (written to status with every patch)."""
        self._run_request: str | None = None
        """A run-now request (the annotation's value) not answered yet."""
        self._run_number: int | None = None
        """Its number with the running loops' `Wakeup`; None until they were told."""

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
        """A Secret of the tenant changed: at its next look at the resource the service reads
        the Secrets again; when their data changed, it rebuilds the clients and checks the
        settings, as for a connection change."""
        self._secrets_dirty = True
        self.kube.changes.notify()

    def _run_requested(self) -> str | None:
        """The value of the run-now annotation on the live resource."""
        annotations = (self.kube.body().get("metadata") or {}).get("annotations") or {}
        value = annotations.get(RUN_REQUESTED_ANNOTATION)
        return value if isinstance(value, str) else None

    async def serve(self, stop: asyncio.Event) -> None:
        logs.about_tenant(self.key)  # this task's log lines (and its loops') name the tenant
        metrics.started(self.key)
        generation: int | None = None
        started = False
        retry_at = utc_now()
        try:
            while not stop.is_set():
                changed = self.kube.changes.ticket()
                requested = self._run_requested()
                if requested is not None and requested not in (self.run_request_handled,
                                                               self._run_request):
                    log.info("a run was requested (%s: %s): every loop runs now",
                             RUN_REQUESTED_ANNOTATION, requested)
                    self._run_request, self._run_number = requested, None
                    retry_at = utc_now()  # a start that waits for its retry is tried now
                if started and self._secrets_dirty:
                    self._secrets_dirty = False
                    if await self._secrets_differ():
                        generation = self._generation()
                        await self._apply(secrets=True)
                        retry_at = utc_now() + self.recheck
                if (not started or self._generation() != generation
                        or (self._waiting() and utc_now() >= retry_at)):
                    started = True
                    generation = self._generation()
                    await self._apply()
                    retry_at = utc_now() + self.recheck
                if self._run_request is not None:
                    await self._follow_run_request()
                wait = self.poll_seconds
                if self._waiting():
                    wait = min(wait, max(0.0, (retry_at - utc_now()).total_seconds()))
                await sleep_until(wait, stop, changed)
        finally:
            if self.secret_index is not None:
                self.secret_index.forget(self)
            await self._stop_loops()
            await self._close_run()
            metrics.forget(self.key)  # served elsewhere now, or deleted: its series go

    async def _secrets_differ(self) -> bool:
        """Whether the Secrets' data is not what the clients were built from (or the
        Secrets could not be used then, or cannot be read now)."""
        if self._secrets_seen is None:
            return True
        try:
            tenant = tenant_from_body(self.kube.body())
            seen = await self._secrets_digest(tenant)
        except Exception:  # reading them again for the clients reports it; never the data
            return True
        return seen != self._secrets_seen

    async def _follow_run_request(self) -> None:
        """Tell the running loops to run now; with no loops running (disabled, or a start
        that failed again) there is nothing to run, and the request is answered."""
        if self._loops is None:
            await self._answer_run_request()
        elif self._run_number is None:
            self._run_number = self._wakeup.run_now()

    async def _answer_run_request(self) -> None:
        self.run_request_handled = self._run_request
        self._run_request, self._run_number = None, None
        await self._patch()

    async def _apply(self, *, secrets: bool = False) -> None:
        """Bring the tenant in line with the live resource's spec (see the module); with
        `secrets`, the Secrets changed: reconnect as for a connection change. What goes wrong
        on the way (an API refusing the activation wipe, the store) is shown in Ready and
        tried again every `recheck`; it never ends the service."""
        try:
            await self._follow_spec(secrets=secrets)
        except Exception as error:
            await self._could_not_start(error)

    async def _could_not_start(self, error: Exception) -> None:
        if isinstance(error, ApiError):
            log.warning("the tenant could not start: %s", error)
            detail = str(error)
        else:
            log.exception("the tenant could not start")
            detail = unexpected(error)
        # Loops that run go on; a start that did not get as far is tried again (`_waiting`).
        message = (f"A change to the tenant could not be applied: {detail}"
                   if self.loops_running else f"The tenant could not start: {detail}")
        if self.run is not None:
            message = with_credentials_advice(message, self.run.tenant.spec, detail)
        elif not message.endswith("."):
            message += "."
        if not self.loops_running:
            message += " It is tried again every minute and when its Secrets change."
        body = self.kube.body()
        generation = (body.get("metadata") or {}).get("generation")
        self.status.set_condition(ConditionType.READY.value, False, "StartFailed", message,
                                  now=utc_now(), observed_generation=generation)
        await self.kube.event("Warning", "StartFailed", message)
        await self._patch(force=True)

    async def _follow_spec(self, *, secrets: bool = False) -> None:
        body = self.kube.body()
        try:
            tenant = tenant_from_body(body)
        except TenantSpecError as error:  # the CRD refuses most of these already
            await self._stop_loops()
            await self._close_run()
            await self._invalid("SpecInvalid", str(error), body)
            return
        if self.secret_index is not None:
            self.secret_index.follow(self, tenant.namespace, (
                tenant.spec.visma.credentials_secret_ref.name,
                tenant.spec.simon.credentials_secret_ref.name))
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
        run = await self._connect(tenant)
        if run is None:
            return
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

    async def _connect(self, tenant: Tenant) -> TenantRun | None:
        """Stop the loops and the old clients, read the Secrets and build new clients: the
        tenant's new run, or None (SecretInvalid shown) when the Secrets are not usable."""
        await self._stop_loops()
        await self._close_run()
        try:
            visma, simon = await self._credentials(tenant)
        except CredentialsError as error:
            await self._invalid("SecretInvalid", str(error), self.kube.body())
            return None
        visma_client, simon_client = build_clients(tenant, visma, simon, self.policy)
        self.run = TenantRun(tenant, visma_client, simon_client, self.store.tenant(tenant.key))
        return self.run

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
        run = await self._connect(tenant)
        if run is None:
            return False
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
        self._run_number = None  # a run request not answered yet is told to the new loops
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
        if outcome.skipped:  # another process ran this pass: nothing of ours to count or show
            if self._run_number is not None and self._wakeup.answered(self._run_number, LOOPS):
                await self._answer_run_request()  # that pass ran after the request, too
            return
        loop = outcome.loop.key
        before = self.outcomes.get(loop)
        self.outcomes[loop] = outcome
        metrics.observe(self.key, outcome)
        if self._run_number is not None and self._wakeup.answered(self._run_number, LOOPS):
            self.run_request_handled = self._run_request
            self._run_request, self._run_number = None, None
        if not outcome.ok and (before is None or before.ok):
            await self.kube.event("Warning", "LoopFailed", failing_message(
                self.run, outcome.loop, outcome.error or "it failed"))
        elif outcome.ok and before is not None and not before.ok:
            await self.kube.event("Normal", "LoopRecovered", f"The {loop} loop completes again.")
        await self._report()

    async def _report(self) -> None:
        async with self._reporting:  # one at a time, so the last one built is the newest
            assert self.run is not None
            self.status = await build_status(self.run, self.status, self.outcomes,
                                             self.run.settings, utc_now(), self._reads)
            await self._patch()

    async def _patch(self, *, force: bool = False) -> None:
        metrics.report(self.key, self.status)
        self.status.last_run_request = self.run_request_handled
        wire = self.status.to_wire()
        if force or worth_patching(self.patched, wire):
            await self.kube.patch_status(wire)
            self.patched = wire

