"""Who serves a tenant, held on the VismaIntegration itself, so that two installations of the
operator (each with a database of its own) never serve one tenant.

The serving replica keeps an annotation on the resource:

    simon-visma.io/served-by: {"installation": "simon-visma", "pod": "simon-visma-7c9f-abcde",
                               "renewedAt": "2026-01-01T12:00:00Z"}

It is taken and renewed with optimistic concurrency (the patch carries the resourceVersion it
was decided on: the resource as the operator's watch last saw it, so a renewal is one write; a
409 means someone else wrote first, so the replica reads again and decides again), renewed
every third of `SIMON_VISMA_HOLD_SECONDS` (default 600 s, so every 200 s) and removed when the
replica stops serving the tenant. The hold's length only decides how soon another installation
takes over the tenants of one that died: within an installation, a replica's Lease does. A
replica may take the hold when there is none, when it is its own, when it has expired, or when
its holder is a replica of the same installation whose Lease is gone (a killed replica's
tenants move as soon as its Lease expires, not after the hold does). A hold of another
installation that is renewed is respected: that installation serves the tenant, this one stays
idle and says so.

kopf's change handlers ignore these writes: annotations under the operator's own storage prefix
(`simon-visma.io/`, marked by kopf's `kopf-managed` annotation) are left out of the diff-base.
The operator's watch handler does see them, and tells the tenant's serving
(reconcilers/kube/serving.py): a hold released is taken at once by the next owner.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from reconcilers.kube.leases import Membership, Replica
from reconcilers.resource.spec import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)

HOLD_ANNOTATION = "simon-visma.io/served-by"
HOLD_SECONDS = 600.0
ATTEMPTS = 5


@dataclass(frozen=True)
class Hold:
    installation: str
    pod: str
    renewed_at: datetime

    def to_annotation(self) -> str:
        return json.dumps({"installation": self.installation, "pod": self.pod,
                           "renewedAt": self.renewed_at.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def held_by(self, replica: Replica) -> bool:
        return self.installation == replica.installation and self.pod == replica.pod

    def expired(self, now: datetime, seconds: float) -> bool:
        return self.renewed_at + timedelta(seconds=seconds) <= now

    def __str__(self) -> str:
        return f"{self.pod} (installation {self.installation})"


def hold_of(body: Mapping[str, Any]) -> Hold | None:
    """The hold recorded on a resource; None when there is none or it cannot be read (then it
    is anybody's to take)."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(HOLD_ANNOTATION)
    if not value:
        return None
    try:
        found = json.loads(value)
        renewed = datetime.fromisoformat(found["renewedAt"])
        return Hold(str(found["installation"]), str(found["pod"]),
                    renewed if renewed.tzinfo else renewed.replace(tzinfo=UTC))
    except (ValueError, KeyError, TypeError):
        return None


class Holds:
    """Take, renew and release the hold on resources for this replica."""

    def __init__(self, api: CustomObjectsApi, membership: Membership, *,
                 seconds: float = HOLD_SECONDS) -> None:
        self.api = api
        self.membership = membership
        self.replica = membership.replica
        self.seconds = seconds
        self.renew_every = seconds / 3

    def may_take(self, hold: Hold | None, now: datetime | None = None) -> bool:
        """Whether this replica may hold the resource, given the hold on it now."""
        if hold is None or hold.held_by(self.replica):
            return True
        if hold.expired(now or datetime.now(UTC), self.seconds):
            return True
        return (hold.installation == self.replica.installation
                and not self.membership.alive(hold.pod))

    async def _read(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = await asyncio.to_thread(self.api.get_namespaced_custom_object, GROUP,
                                            VERSION, namespace, PLURAL, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(dict[str, Any], found)

    async def _write(self, namespace: str, name: str, body: Mapping[str, Any],
                     value: str | None) -> bool:
        """Set (or with None remove) the annotation if the resource is still at the version
        `body` was read at; False when someone wrote first."""
        patch = {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"],
                              "annotations": {HOLD_ANNOTATION: value}}}
        try:
            await asyncio.to_thread(self.api.patch_namespaced_custom_object, GROUP, VERSION,
                                    namespace, PLURAL, name, patch)
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    async def take(self, namespace: str, name: str, seen: Mapping[str, Any] | None = None,
                   ) -> tuple[Hold | None, Hold | None]:
        """Take or renew the hold when this replica may; (the hold before, the hold now). The
        hold now is this replica's when it got it; None when the resource is gone. `seen`:
        the resource as last seen, decided on first (it is read when someone wrote since)."""
        for attempt in range(ATTEMPTS):
            body = seen if attempt == 0 and seen else await self._read(namespace, name)
            if body is None:
                return None, None
            before = hold_of(body)
            now = datetime.now(UTC)
            if not self.may_take(before, now):
                return before, before
            mine = Hold(self.replica.installation, self.replica.pod, now)
            if await self._write(namespace, name, body, mine.to_annotation()):
                return before, mine
        return before, None  # written by others every time: decide again at the next look

    async def release(self, namespace: str, name: str) -> None:
        """Remove this replica's hold (if it still has it), so the next owner takes over now."""
        for _ in range(ATTEMPTS):
            body = await self._read(namespace, name)
            hold = hold_of(body) if body is not None else None
            if body is None or hold is None or not hold.held_by(self.replica):
                return
            if await self._write(namespace, name, body, None):
                return
