"""Fixtures for the runtime tests: the operator's tenant service, its schedule, status and
metrics, without a cluster.

The service meets Kubernetes only through `reconcilers.runtime.service.Kubernetes`. Here that
seam is `Cluster`: an in-memory API server holding one VismaIntegration (its spec can be
changed, which bumps `metadata.generation` as the API server does), the Secrets of its
namespace, the status the service patched (a JSON merge patch) and the Events it posted.
Everything behind the seam is real: the store, the clients, and both emulators over HTTP, as
tests/fixtures/world.py builds them (`World`, the recording proxy in front of the Visma.net
ERP API, `sqlite_world` / `world`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from reconcilers.resource.spec import VismaIntegrationSpec
from reconcilers.runtime.changes import Changes
from reconcilers.runtime.service import Kubernetes, TenantService
from tests.fixtures.emulators import FAST
from tests.fixtures.world import World, merge
from tests.integration.test_activation import seed_settings

SPEC: dict[str, Any] = {"schedule": {"masterData": "10s", "orders": "10s", "imports": "10s",
                                     "cleanup": "48h"}}
"""The shortest loops the resource allows (cleanup keeps its 48 hours): every loop runs once
at the start; a test that needs another pass asks for it (the run-now annotation)."""

WAIT_SECONDS = 30.0


class Cluster:
    """The API server as a tenant's service sees it through `Kubernetes`."""

    def __init__(self, resource: dict[str, Any], secrets: list[dict[str, Any]]) -> None:
        self.resource = copy.deepcopy(resource)
        self.resource["metadata"].setdefault("uid", str(uuid.uuid4()))
        self.resource["metadata"].setdefault("generation", 1)
        self.secrets = {s["metadata"]["name"]: dict(s["stringData"]) for s in secrets}
        self.events: list[tuple[str, str, str]] = []
        self.patches = 0
        self.changes = Changes()
        """What the operator's watch tells the service: every change a user makes here."""

    def kubernetes(self) -> Kubernetes:
        async def read_secret(name: str) -> dict[str, str] | None:
            return dict(self.secrets[name]) if name in self.secrets else None

        async def patch_status(status: dict[str, Any]) -> None:
            self.resource["status"] = merge(self.resource.get("status") or {}, status)
            self.patches += 1

        async def event(kind: str, reason: str, message: str) -> None:
            self.events.append((kind, reason, message))

        return Kubernetes(body=lambda: self.resource, read_secret=read_secret,
                          patch_status=patch_status, event=event, changes=self.changes)

    # --- what a user does ---------------------------------------------------------------

    def change_spec(self, changes: dict[str, Any]) -> int:
        """`kubectl patch --type merge` of the spec: the new generation."""
        self.resource["spec"] = merge(self.resource["spec"], changes)
        VismaIntegrationSpec.model_validate(self.resource["spec"])  # what the CRD would refuse
        self.resource["metadata"]["generation"] += 1
        generation: int = self.resource["metadata"]["generation"]
        self.changes.notify()
        return generation

    # --- what a user reads --------------------------------------------------------------

    @property
    def generation(self) -> int:
        generation: int = self.resource["metadata"]["generation"]
        return generation

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.resource.get("status") or {}
        return status

    def condition(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.status.get("conditions") or [] if c["type"] == kind), None)

    def condition_is(self, kind: str, status: str, reason: str | None = None) -> bool:
        found = self.condition(kind)
        return (found is not None and found["status"] == status
                and (reason is None or found["reason"] == reason))

    def observed(self) -> bool:
        """Status and every condition speak of the current generation."""
        return (self.status.get("observedGeneration") == self.generation
                and all(c.get("observedGeneration") == self.generation
                        for c in self.status.get("conditions") or []))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]

    def messages(self, reason: str) -> list[str]:
        return [message for _, r, message in self.events if r == reason]

    def last_success(self, section: str) -> str | None:
        found: str | None = (self.status.get(section) or {}).get("lastSuccessTime")
        return found


async def wait_until(probe: Callable[[], Any], what: str, cluster: Cluster | None = None,
                     seconds: float = WAIT_SECONDS) -> Any:
    """Poll `probe` (a function, or a coroutine function) until it returns something true;
    fail naming `what` (and the cluster's status and Events) after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if loop.time() > deadline:
            detail = (f"\nstatus: {cluster.status}\nevents: {cluster.events}"
                      if cluster is not None else "")
            raise AssertionError(f"timed out waiting for {what}{detail}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving(service: TenantService) -> AsyncIterator[TenantService]:
    """The service serving its tenant (as the operator's daemon runs it) until the block
    ends; whatever the service raised is raised here."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.serve(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_SECONDS)


class ServedTenant:
    """One emulator-backed tenant as the operator serves it: its `Cluster` and `World`."""

    def __init__(self, made: World, spec: dict[str, Any] | None = None) -> None:
        self.world = made
        resource, secrets = made.manifests(merge(SPEC, spec or {}))
        self.cluster = Cluster(resource, secrets)

    def service(self) -> TenantService:
        return TenantService(self.cluster.kubernetes(), self.world.store, FAST,
                             poll_seconds=0.02, recheck=timedelta(seconds=1))

    # --- what the emulators saw ---------------------------------------------------------

    def settings_checks(self) -> int:
        """GET /v1/salesordertype: the settings check's first question (S-71)."""
        return len(self.world.proxy.requests("/v1/salesordertype"))

    def tokens(self) -> int:
        """Tokens Visma Connect granted: one per client built (they last an hour)."""
        server = self.world.emulators
        return server.call(lambda: server.visma.stats.count("POST", "/connect/token"))

    async def last_success(self, loop: str) -> datetime | None:
        """When a loop (by key) last completed a pass, as the store has it (status moves
        that timestamp only every few minutes)."""
        schedule = await self.world.state.schedules.get(loop)
        return schedule.last_success_at if schedule else None

    def requests(self) -> int:
        """Every request either API got."""
        server = self.world.emulators
        return server.call(lambda: server.visma.stats.total + server.simon.stats.total)

    async def ready(self) -> None:
        """Ready, and every loop has completed a pass."""
        await wait_until(
            lambda: self.cluster.condition_is("Ready", "True") and all(
                self.cluster.last_success(section)
                for section in ("masterData", "cleanup", "orders", "imports")),
            "Ready and a pass of every loop", self.cluster)


@pytest.fixture
def served(sqlite_world: World, monkeypatch: pytest.MonkeyPatch) -> ServedTenant:
    """A tenant whose settings are valid in Visma.net (the items and warehouse it names, two
    customers), served by a service whose loops start at once."""
    monkeypatch.setenv("SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS", "0")
    seed_settings(sqlite_world)
    sqlite_world.visma.add_customer("10023", "Jansen Installatietechniek B.V.", address={
        "addressLine1": "Kerkstraat 12 A", "postalCode": "1011 AB", "city": "Amsterdam",
        "country": "NL"})
    sqlite_world.visma.add_customer("10024", "De Vries Elektro", address={
        "addressLine1": "Dorpsweg 3", "postalCode": "3511 CD", "city": "Utrecht",
        "country": "NL"})
    return ServedTenant(sqlite_world)
