"""Serve a tenant only while this replica owns it.

`ServedTenant.run` is what the operator's per-resource daemon does:

1. Wait until rendezvous hashing of the resource uid over the live replicas
   (`Membership.owns`) names this replica.
2. Take the hold on the resource (`Holds.take`). When another installation's replica holds it,
   stay idle and say so once (an Event `ServedElsewhere`); when a replica of this installation
   still holds it (a handover: it is stopping the tenant's loops), wait for its release.
3. Serve: `status.servedBy` names this pod, an Event `Serving` marks the move, the tenant's
   loops run (`serve(stop)`, i.e. `TenantService.serve`), and the hold is renewed.
4. Stop serving when the operator stops or the resource is deleted, when the members change so
   that another replica owns the tenant, or when the hold was lost (another replica took it,
   having seen this one's lease or hold expire); then release the hold, so the next owner
   starts at once. A pass running at the moment of a move is kept from overlapping with the
   next owner's by the store's lease per tenant and loop.

It looks again when it is told: the members changed (`Membership.ticket`), the resource
changed (`changes`, from the operator's watch: a hold taken or released shows there), its
hold is due for renewal, another's hold expires, or after `retry_seconds` when the API server
failed a request.

Outside a cluster (no replica environment) there are no holds: the tenant is served at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from reconcilers.kube.holds import Hold, Holds, hold_of
from reconcilers.kube.leases import Membership
from reconcilers.runtime.changes import Changes

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
"""How soon a hold that the API server failed to take, renew or read is tried again."""

Event = Callable[[str, str, str], Awaitable[None]]


class ServedTenant:
    def __init__(self, *, uid: str, namespace: str, name: str,
                 body: Callable[[], Mapping[str, Any]], membership: Membership,
                 holds: Holds | None,
                 serve: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
                 event: Event, served_by: Callable[[str], Awaitable[None]],
                 changes: Changes,
                 serving: Callable[[int], None] = lambda change: None,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.uid, self.namespace, self.name = uid, namespace, name
        self.body = body
        """The live resource as the operator's watch last saw it (no request)."""
        self.membership = membership
        self.holds = holds
        self.serve = serve
        self.event = event
        self.served_by = served_by
        """Writes `status.servedBy`."""
        self.changes = changes
        """Notified when the live resource changed (the operator's watch)."""
        self.serving = serving
        """+1 when this process starts serving the tenant, -1 when it stops (a gauge)."""
        self.retry_seconds = retry_seconds
        self._told: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def run(self, stop: asyncio.Event) -> None:
        if self.holds is None:
            self.serving(1)
            try:
                await self.serve(stop)
            finally:
                self.serving(-1)
            return
        while not stop.is_set():
            told = (self.membership.ticket(), self.changes.ticket())
            if not self.membership.owns(self.uid):  # nothing to look at until members change
                await self._wait(stop, told[:1])
                continue
            hold = hold_of(self.body())
            failed = False
            if self.holds.may_take(hold):
                try:
                    before, hold = await self.holds.take(self.namespace, self.name,
                                                         self.body())
                except Exception as error:  # the API server: look again soon
                    log.warning("%s: could not take the hold: %s", self.key, error)
                    before, hold, failed = None, None, True
                if hold is not None and hold.held_by(self.membership.replica):
                    await self._serve_while_owned(self.holds, before, stop)
                    continue
            await self._elsewhere(hold)
            # The holder's release shows on the watched resource; a holder that stopped
            # renewing is seen when its hold expires (or, in this installation, its Lease).
            await self._wait(stop, told, seconds=self.retry_seconds if hold is None or failed
                             else self._until_expired(hold))

    def _until_expired(self, hold: Hold) -> float:
        assert self.holds is not None
        left = hold.renewed_at - datetime.now(UTC)
        return max(0.0, left.total_seconds() + self.holds.seconds)

    async def _wait(self, stop: asyncio.Event, told: tuple[asyncio.Event, ...],
                    task: asyncio.Task[None] | None = None, *,
                    seconds: float | None = None) -> None:
        """Until the next look: `stop`, one of the `told` changes, the tenant's service
        ending, or `seconds`."""
        waits = [asyncio.ensure_future(event.wait()) for event in (stop, *told)]
        try:
            await asyncio.wait([*waits, *([task] if task else [])], timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _elsewhere(self, hold: Hold | None) -> None:
        """Another replica holds the tenant: say so once per holder when it is another
        installation (within one installation a holder hands over by itself)."""
        replica = self.membership.replica
        if hold is None or hold.installation == replica.installation:
            return
        if self._told == (hold.installation, hold.pod):
            return
        self._told = (hold.installation, hold.pod)
        log.info("%s is served by %s; this installation (%s) leaves it alone", self.key, hold,
                 replica.installation)
        await self.event("Normal", "ServedElsewhere",
                         f"Served by {hold.pod} of the operator installation "
                         f"{hold.installation}; the installation {replica.installation} leaves "
                         f"this tenant alone while the other one keeps serving it.")

    async def _serve_while_owned(self, holds: Holds, before: Hold | None,
                                 stop: asyncio.Event) -> None:
        replica = self.membership.replica
        taken_at = datetime.now(UTC)
        self._told = None
        if before is None or not before.held_by(replica):
            was = f" (before: {before.pod})" if before is not None else ""
            log.info("%s: now served by %s%s", self.key, replica.pod, was)
            await self.served_by(replica.pod)
            await self.event("Normal", "Serving", f"Now served by {replica.pod}{was}.")
        service_stop = asyncio.Event()
        service = asyncio.create_task(self.serve(service_stop))
        self.serving(1)
        renew_at = time.monotonic() + holds.renew_every
        why = "the operator stops or the resource is deleted"
        try:
            while not stop.is_set() and not service.done():
                told = (self.membership.ticket(), self.changes.ticket())
                if not self.membership.owns(self.uid):
                    why = f"{self.membership.owner(self.uid) or 'no replica'} owns it now"
                    break
                seen = hold_of(self.body())
                if seen is not None and not seen.held_by(replica) and seen.renewed_at > taken_at:
                    why = f"{seen} took it over"
                    break
                if time.monotonic() >= renew_at:
                    try:
                        _, hold = await holds.take(self.namespace, self.name, self.body())
                    except Exception as error:  # the hold lasts two more renewals: try again
                        log.warning("%s: could not renew the hold: %s", self.key, error)
                        renew_at = time.monotonic() + self.retry_seconds
                        continue
                    if hold is None or not hold.held_by(replica):
                        why = f"{hold or 'nobody'} holds it now"
                        break
                    renew_at = time.monotonic() + holds.renew_every
                await self._wait(stop, told, service,
                                 seconds=max(0.0, renew_at - time.monotonic()))
        finally:
            log.info("%s: this replica stops serving it: %s", self.key, why)
            service_stop.set()
            try:
                await service
            finally:
                self.serving(-1)
                try:
                    await holds.release(self.namespace, self.name)
                except Exception as error:  # an unreleased hold expires by itself
                    log.warning("%s: could not release the hold: %s", self.key, error)
