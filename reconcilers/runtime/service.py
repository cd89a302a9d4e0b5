"""One tenant under the operator: follow its spec, run its loops, report its status.

Free of kopf and of any Kubernetes client: the operator hands in how to read the live
resource, read a Secret of the resource's namespace, patch `status` and post an Event.

- A spec change (a new `metadata.generation`) stops the loops, re-reads the credentials,
  re-runs activation and the settings check (S-71, S-72) and starts the loops again.
- `spec.enabled: false` stops every loop at once; nothing is fetched or sent (S-73).
- Loops start only once Visma.net answered the settings check, so the activation wipe always
  comes before the first master-data pass; until then the check is retried every minute.
- Status is patched when something changed (reconcilers/runtime/status.py); Events mark transitions.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from reconcilers.resource.spec import TenantSpecError
from reconcilers.resource.status import ConditionType, VismaIntegrationStatus
from reconcilers.resource.tenant import Tenant, tenant_from_body
from reconcilers.runtime import metrics
from reconcilers.runtime.runner import LOOPS, LoopOutcome, TenantRun, build_clients
from reconcilers.runtime.schedule import run_on_schedule
from reconcilers.runtime.status import build_status, worth_patching
from reconcilers.store import Store
from reconcilers.store.records import utc_now

log = logging.getLogger(__name__)

RECHECK = timedelta(minutes=1)
POLL_SECONDS = 1.0


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


class TenantService:
    def __init__(self, kube: Kubernetes, store: Store, policy: RetryPolicy | None = None) -> None:
        self.kube = kube
        self.store = store
        self.policy = policy
        body = kube.body()
        self.status = VismaIntegrationStatus.model_validate(dict(body.get("status") or {}))
        self.patched: dict[str, Any] = self.status.to_wire()
        self.outcomes: dict[str, LoopOutcome] = {}
        self.run: TenantRun | None = None
        self._loops: asyncio.Task[None] | None = None
        self._loops_stop = asyncio.Event()

    def _generation(self) -> int | None:
        return (self.kube.body().get("metadata") or {}).get("generation")

    async def serve(self, stop: asyncio.Event) -> None:
        generation: int | None = None
        retry_at = utc_now()
        try:
            while not stop.is_set():
                waiting = self._loops is None and (self.run is None
                                                   or self.run.tenant.spec.enabled)
                if self._generation() != generation or (waiting and utc_now() >= retry_at):
                    generation = self._generation()
                    await self._restart()
                    retry_at = utc_now() + RECHECK
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        finally:
            await self._stop_loops()
            if self.run is not None:
                await self.run.close()

    async def _restart(self) -> None:
        """Apply the current spec: activation, settings check, loops (S-71 to S-73)."""
        await self._stop_loops()
        if self.run is not None:
            await self.run.close()
            self.run = None
        body = self.kube.body()
        try:
            tenant = tenant_from_body(body)
        except TenantSpecError as error:  # the CRD refuses most of these already
            await self._invalid("SpecInvalid", str(error), body)
            return
        try:
            visma, simon = await self._credentials(tenant)
        except CredentialsError as error:
            await self._invalid("SecretInvalid", str(error), body)
            return
        visma_client, simon_client = build_clients(tenant, visma, simon, self.policy)
        self.run = TenantRun(tenant, visma_client, simon_client, self.store.tenant(tenant.key))
        was_enabled = self.status.get_condition(ConditionType.ACTIVE.value)
        activation = await self.run.activate()
        if activation.event.value != "none":
            await self.kube.event("Normal", "Activated",
                                  f"Activation ({activation.event.value}) of the integration.")
        if activation.wiped:
            wiped = ", ".join(f"{n} {kind}" for kind, n in activation.wiped.items())
            await self.kube.event("Normal", "Wiped", f"Activation wipe removed from Simon: "
                                  f"{wiped} (S-72).")
        if not tenant.spec.enabled:
            if was_enabled is None or was_enabled.status == "True":
                await self.kube.event("Normal", "Disabled",
                                      "spec.enabled is false: every loop stopped (S-73).")
        elif not activation.settings.valid:
            await self.kube.event("Warning", "SettingsInvalid", activation.settings.message)
        await self._report()
        if tenant.spec.enabled and activation.settings.company_reachable:
            self._loops_stop = asyncio.Event()
            self._loops = asyncio.create_task(run_on_schedule(
                self.run, list(LOOPS), self._loops_stop, self._on_outcome))

    async def _credentials(self, tenant: Tenant) -> tuple[VismaCredentials, SimonCredentials]:
        secrets: dict[str, dict[str, str]] = {}
        for ref in (tenant.spec.visma.credentials_secret_ref,
                    tenant.spec.simon.credentials_secret_ref):
            data = await self.kube.read_secret(ref.name)
            if data is not None:
                secrets[ref.name] = data
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

    async def _stop_loops(self) -> None:
        if self._loops is None:
            return
        self._loops_stop.set()
        self._loops.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loops
        self._loops = None

    async def _on_outcome(self, outcome: LoopOutcome) -> None:
        assert self.run is not None
        before = self.outcomes.get(outcome.loop)
        self.outcomes[outcome.loop] = outcome
        metrics.observe(self.run.tenant.key, outcome)
        if not outcome.ok and (before is None or before.ok):
            await self.kube.event("Warning", "LoopFailed",
                                  f"The {outcome.loop} loop could not complete: {outcome.error}")
        elif outcome.ok and before is not None and not before.ok:
            await self.kube.event("Normal", "LoopRecovered",
                                  f"The {outcome.loop} loop completes again.")
        await self._report()

    async def _report(self) -> None:
        assert self.run is not None
        self.status = await build_status(self.run, self.status, self.outcomes,
                                         self.run.settings, utc_now())
        await self._patch()

    async def _patch(self, *, force: bool = False) -> None:
        wire = self.status.to_wire()
        if force or worth_patching(self.patched, wire):
            await self.kube.patch_status(wire)
            self.patched = wire
