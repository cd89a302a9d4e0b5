"""Replica membership from coordination.k8s.io/v1 Leases.

Each replica of an installation holds a Lease of its own in the operator's namespace, named
after its pod and labelled `simon-visma.io/installation=<installation>`. It renews it every
quarter of the lease duration (`SIMON_VISMA_REPLICA_LEASE_SECONDS`, default 10 s, so every
2.5 s; a killed replica is counted out 7.5 to 12.5 s after its last renewal) and deletes it
on a clean stop, so the others take its tenants over at once instead of after the lease runs
out. The live members are the installation's Leases whose `renewTime` plus
`leaseDurationSeconds` lies in the future: a replica that was killed drops out once its lease
expires. The comparison uses each replica's own clock; pods of one cluster keep their clocks in
step to well within a second, which is small against the lease duration.

A replica whose own renewals fail for a whole lease duration counts itself out (no members):
the others will count it out at the same time, so it stops serving before they start.

Outside a cluster (`SIMON_VISMA_POD_NAME` or `SIMON_VISMA_POD_NAMESPACE` unset: tests,
`kopf run` by hand) there is no membership: one process serves every tenant it sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from kubernetes.client import CoordinationV1Api, V1Lease
from kubernetes.client.exceptions import ApiException

from reconcilers.runtime import sharding
from reconcilers.runtime.changes import Changes

log = logging.getLogger(__name__)

INSTALLATION_LABEL = "simon-visma.io/installation"
DEFAULT_INSTALLATION = "simon-visma"
LEASE_SECONDS = 10.0

T = TypeVar("T")


@dataclass(frozen=True)
class Replica:
    """Who this process is: its pod, the operator's namespace and the installation (the Helm
    release) it belongs to."""

    pod: str
    namespace: str | None
    installation: str

    @property
    def sharded(self) -> bool:
        """True in a cluster (pod and namespace known): tenants are shared through Leases."""
        return self.namespace is not None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Replica:
        pod, namespace = env.get("SIMON_VISMA_POD_NAME"), env.get("SIMON_VISMA_POD_NAMESPACE")
        installation = env.get("SIMON_VISMA_INSTALLATION") or DEFAULT_INSTALLATION
        if not pod or not namespace:
            return cls(pod or socket.gethostname(), None, installation)
        return cls(pod, namespace, installation)


def lease_seconds(env: Mapping[str, str] = os.environ) -> float:
    return float(env.get("SIMON_VISMA_REPLICA_LEASE_SECONDS") or LEASE_SECONDS)


def _live(lease: V1Lease, now: datetime) -> bool:
    spec = lease.spec
    if spec is None or spec.renew_time is None or not spec.lease_duration_seconds:
        return False
    renewed = spec.renew_time
    if renewed.tzinfo is None:
        renewed = renewed.replace(tzinfo=UTC)
    return renewed + timedelta(seconds=spec.lease_duration_seconds) > now


class Membership:
    """The live replicas of this installation, kept current by `run()`; answers who serves a
    tenant (rendezvous hashing of the resource uid over the live members)."""

    def __init__(self, replica: Replica, api: CoordinationV1Api | None = None, *,
                 duration: float = LEASE_SECONDS) -> None:
        self.replica = replica
        self.api = api
        self.duration = duration
        self.renew_every = duration / 4
        self.members: frozenset[str] = (frozenset() if replica.sharded
                                        else frozenset({replica.pod}))
        self._renewed_at: float | None = None
        self._changes = Changes()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="replica-lease")
        """A thread of its own, so renewals never queue behind the tenants' API calls (which
        share asyncio's default pool of a few threads)."""

    def owner(self, uid: str) -> str | None:
        return sharding.owner(uid, self.members)

    def owns(self, uid: str) -> bool:
        return self.owner(uid) == self.replica.pod

    def alive(self, pod: str) -> bool:
        return pod in self.members

    def ticket(self) -> asyncio.Event:
        """Set by the next change of the members (`Changes.ticket`)."""
        return self._changes.ticket()

    def _set_members(self, members: frozenset[str]) -> None:
        if members != self.members:
            log.info("Replicas of %s now: %s", self.replica.installation,
                     ", ".join(sorted(members)) or "none")
            self.members = members
            self._changes.notify()

    async def refresh(self) -> None:
        """Renew this replica's Lease and read the live members once."""
        now = datetime.now(UTC)
        try:
            await self._renew(now)
            self._renewed_at = time.monotonic()
            leases = await self._call(
                self._api.list_namespaced_lease, self._namespace,
                label_selector=f"{INSTALLATION_LABEL}={self.replica.installation}")
        except Exception as error:  # the API server: try again at the next renewal
            log.warning("Could not renew this replica's Lease or read the others: %s", error)
            if self._renewed_at is None or time.monotonic() - self._renewed_at > self.duration:
                self._set_members(frozenset())  # the others count us out now as well
            return
        now = datetime.now(UTC)
        live = {lease.metadata.name for lease in leases.items
                if lease.metadata is not None and lease.metadata.name and _live(lease, now)}
        self._set_members(frozenset(live | {self.replica.pod}))

    async def _call(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(call, *args, **kwargs))

    @property
    def _api(self) -> CoordinationV1Api:
        assert self.api is not None
        return self.api

    @property
    def _namespace(self) -> str:
        assert self.replica.namespace is not None
        return self.replica.namespace

    def _spec(self, now: datetime) -> dict[str, Any]:
        return {"holderIdentity": self.replica.pod,
                "leaseDurationSeconds": max(1, round(self.duration)),
                "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    async def _renew(self, now: datetime) -> None:
        """A merge patch of the Lease's spec (one request); created when it is not there."""
        namespace, name = self._namespace, self.replica.pod
        try:
            await self._call(self._api.patch_namespaced_lease, name, namespace,
                                    {"spec": self._spec(now)},
                                    _content_type="application/merge-patch+json")
        except ApiException as error:
            if error.status != 404:
                raise
            await self._call(self._api.create_namespaced_lease, namespace, cast(Any, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {INSTALLATION_LABEL: self.replica.installation}},
                "spec": self._spec(now)}))

    async def run(self, stop: asyncio.Event) -> None:
        """Renew and read every quarter of the lease duration until `stop`; then delete this
        replica's Lease so the others take its tenants over at once."""
        if not self.replica.sharded:
            return
        try:
            while not stop.is_set():
                await self.refresh()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.renew_every)
        finally:
            await self.release()

    async def release(self) -> None:
        self._set_members(frozenset())
        try:
            await self._call(self._api.delete_namespaced_lease, self.replica.pod,
                                    self._namespace)
        except ApiException as error:
            if error.status != 404:
                log.warning("Could not delete this replica's Lease: %s", error)

