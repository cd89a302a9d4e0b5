"""The simon-visma operator: thin kopf handlers around reconcilers.runtime.service.TenantService.

    kopf run operator/main.py --all-namespaces --standalone --liveness=http://0.0.0.0:8080/healthz

One daemon per VismaIntegration runs that tenant's loops; deleting the resource stops it and
removes the operator's own state for the tenant (S-74). Secrets are read from the resource's
own namespace only (S-82), by name; the operator watches the Secrets of the namespaces it
serves (kopf's --namespace / --all-namespaces), and a change to one a tenant names makes that
tenant read its Secrets again (kopf only looks: it writes nothing to a Secret and keeps no
Secret's data). A new value of the annotation simon-visma.io/run-requested-at on a
VismaIntegration runs every loop of the tenant now. Events come from `simon-visma`, instance
$SIMON_VISMA_POD_NAME (else the host name).

Environment: SIMON_VISMA_DATABASE_URL (default: a SQLite file in
the working folder), SIMON_VISMA_METRICS_ADDRESS (default 0.0.0.0) and
SIMON_VISMA_METRICS_PORT (default 9090; 0 turns metrics off): where Prometheus metrics are
served, per tenant (`namespace`, `name` labels) and loop,
SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS (default 60: the first run of each loop of a tenant is
delayed by a stable jitter of up to this many seconds, so many tenants do not fire at once
after a start; 0 starts the loops at once, which tests use),
SIMON_VISMA_OVERDUE_MARGIN_SECONDS (default 120: /healthz fails while a loop of a running
tenant is more than three of its intervals and this margin past its due time, so the liveness
probe restarts a process whose loops are stuck), SIMON_VISMA_DATABASE_POOL_SIZE (default 20
connections to PostgreSQL, and as many more while passes wait for one),
SIMON_VISMA_LOG_VIEW_ADDRESS (default 0.0.0.0) and SIMON_VISMA_LOG_VIEW_PORT (default 8081; 0
turns it off): the read-only endpoint of tenants' integration logs that `kubectl simon-visma
log` reads through the API server (reconcilers/logview).

Several replicas share the tenants (reconcilers/kube): with SIMON_VISMA_POD_NAME and
SIMON_VISMA_POD_NAMESPACE set (the chart sets them from the downward API) each replica keeps a
Lease of its own (SIMON_VISMA_REPLICA_LEASE_SECONDS, default 10) and serves the tenants that
rendezvous hashing of their uid gives it; the daemon of every other tenant waits. Who serves a
tenant is held on the resource too (SIMON_VISMA_HOLD_SECONDS, default 600), so another
installation (SIMON_VISMA_INSTALLATION) leaves it alone. Without those variables one process
serves every tenant it sees.

Log lines about a tenant carry `namespace`, `name` and, in a loop, `loop` (keys of the JSON
object with `--log-format=json`); liveness probes are not logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import resource
import socket
from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException

from reconcilers.kube.holds import HOLD_ANNOTATION, HOLD_SECONDS, Holds
from reconcilers.kube.leases import Membership, Replica, lease_seconds
from reconcilers.kube.serving import ServedTenant
from reconcilers.logview.server import serve_from_environment as serve_log_view
from reconcilers.resource.credentials import CredentialsError
from reconcilers.resource.spec import GROUP, PLURAL, VERSION
from reconcilers.runtime import logs, metrics
from reconcilers.runtime.changes import Changes
from reconcilers.runtime.schedule import DUE, overdue
from reconcilers.runtime.secret_index import SecretIndex
from reconcilers.runtime.service import RUN_REQUESTED_ANNOTATION, Kubernetes, TenantService
from reconcilers.store import default_database_url, open_store

DOMAIN = "simon-visma.io"


def _allow_open_files() -> None:
    """Raise the limit of open files to what the process may have: every tenant keeps its
    connections to Visma.net and Simon open between passes (a thousand tenants: thousands of
    sockets, past the common default soft limit of 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    logs.setup()  # tenant fields on every line, in kopf's --log-format; probes not logged
    _allow_open_files()
    settings.persistence.finalizer = f"{DOMAIN}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=DOMAIN)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=DOMAIN)
    settings.scanning.disabled = True
    settings.posting.level = logging.INFO  # Normal events for transitions, Warning for failures
    settings.posting.reporting_component = "simon-visma"  # Events say From: simon-visma
    settings.posting.reporting_instance = (os.environ.get("SIMON_VISMA_POD_NAME")
                                           or socket.gethostname())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    memo.core = kubernetes.client.CoreV1Api()
    memo.custom = kubernetes.client.CustomObjectsApi()
    memo.store = await open_store(default_database_url())
    memo.secret_index = SecretIndex()  # shared by every tenant's memo (a shallow copy)
    port = int(os.environ.get("SIMON_VISMA_METRICS_PORT", "9090"))
    if port:
        metrics.serve(os.environ.get("SIMON_VISMA_METRICS_ADDRESS", "0.0.0.0"), port)
    memo.log_view = await serve_log_view(memo.store)  # None when its port is 0
    await _join_replicas(memo)


async def _join_replicas(memo: kopf.Memo) -> None:
    """Membership among the installation's replicas (renewed in the background) and the holds
    on the resources; outside a cluster neither: this process serves every tenant."""
    replica = Replica.from_environment()
    memo.membership = Membership(replica, kubernetes.client.CoordinationV1Api(),
                                 duration=lease_seconds())
    memo.holds = None
    memo.leaving = asyncio.Event()
    if replica.sharded:
        await memo.membership.refresh()  # the daemons start knowing the live replicas
        memo.holds = Holds(memo.custom, memo.membership, seconds=float(
            os.environ.get("SIMON_VISMA_HOLD_SECONDS") or HOLD_SECONDS))
    memo.membership_task = asyncio.create_task(memo.membership.run(memo.leaving))


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo.leaving.set()  # the replica's Lease is deleted: the others take its tenants now
    await memo.membership_task
    if memo.get("log_view") is not None:
        await memo.log_view.stop()
    await memo.store.close()


def _kubernetes(body: kopf.Body, memo: kopf.Memo) -> Kubernetes:
    namespace, name = body.metadata.namespace, body.metadata.name

    async def read_secret(secret: str) -> dict[str, str] | None:
        try:
            found = await asyncio.to_thread(memo.core.read_namespaced_secret, secret, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            if error.status == 403:
                raise CredentialsError(
                    f"secret {secret}: the operator may not read Secrets in namespace "
                    f"{namespace}; allow it (list the namespace in the chart's "
                    f"operator.namespaces, or leave that empty)",
                    secret=secret) from None
            raise
        return {key: base64.b64decode(value).decode() for key, value in
                (found.data or {}).items()}

    async def patch_status(status: dict[str, Any]) -> None:
        if memo.holds is not None:  # the status read at the start may name the replica before
            status = {**status, "servedBy": memo.membership.replica.pod}
        await asyncio.to_thread(
            memo.custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace,
            PLURAL, name, {"status": status})

    async def event(kind: str, reason: str, message: str) -> None:
        post = kopf.warn if kind == "Warning" else kopf.info
        post(body, reason=reason, message=message)

    changes = Changes()
    memo.resource_changed = changes.notify  # `memo` is the resource's: see `resource_changed`
    return Kubernetes(body=lambda: body, read_secret=read_secret, patch_status=patch_status,
                      event=event, changes=changes)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=1, cancellation_timeout=15)
async def tenant(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped,
                 **_: Any) -> None:
    """Run one tenant while this replica serves it (reconcilers/kube/serving.py), until the
    resource is deleted or the operator stops.

    `cancellation_backoff` gives the daemon a second to stop its loops itself when the
    resource is deleted (without it kopf cancels the task at once, with a warning; a longer
    one delays the finalizer's removal by as much). `memo` is per resource, so `deleted` can
    wait for `memo.tenant_stopped` before it forgets the tenant's state.
    """
    memo.tenant_stopped = asyncio.Event()
    stop = asyncio.Event()

    async def watch_stopped() -> None:
        await stopped.wait()
        stop.set()

    watcher = asyncio.create_task(watch_stopped())
    kube = _kubernetes(body, memo)

    async def served_by(pod: str) -> None:
        await kube.patch_status({})  # servedBy is in every status patch of a replica

    try:
        await ServedTenant(
            uid=body.metadata.uid or "", namespace=body.metadata.namespace or "",
            name=body.metadata.name or "", body=lambda: body, membership=memo.membership,
            holds=memo.holds, serve=lambda until: TenantService(
                kube, memo.store, secret_index=memo.secret_index).serve(until),
            event=kube.event, served_by=served_by, changes=kube.changes,
            serving=metrics.TENANTS_SERVED.inc,
        ).run(stop)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        memo.tenant_stopped.set()


def _tells_something(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    """Whether a watch event changed what a tenant's service and its serving look at: the
    generation, the deletion, a run request or who holds it; not its status (most events are
    status patches, of every replica's tenants)."""
    annotations = body.metadata.annotations
    seen = (body.metadata.get("generation"), body.metadata.get("deletionTimestamp"),
            annotations.get(RUN_REQUESTED_ANNOTATION), annotations.get(HOLD_ANNOTATION))
    if memo.get("told") == seen:
        return False
    memo.told = seen
    return True


@kopf.on.event(GROUP, VERSION, PLURAL, when=_tells_something)
async def resource_changed(memo: kopf.Memo, **_: Any) -> None:
    """A watch event that changed a VismaIntegration's spec or the operator's annotations on
    it (kopf has updated the daemon's body already): its service looks at it now (a new
    generation, a run request) instead of at its next poll, and its serving at the hold."""
    notify = memo.get("resource_changed")
    if notify is not None:
        notify()


def _read_by_a_tenant(namespace: str | None, name: str | None, memo: kopf.Memo,
                      **_: Any) -> bool:
    return memo.secret_index.referenced(namespace or "", name or "")


@kopf.on.event("", "v1", "secrets", when=_read_by_a_tenant)
async def secret_changed(namespace: str | None, name: str | None, memo: kopf.Memo,
                         **_: Any) -> None:
    """A Secret a tenant reads was created, changed or deleted: the tenant reads its Secrets
    again (and reconnects when their data changed). A watch handler only: kopf keeps no
    state on Secrets (no finalizer, no annotations) and this handler never sees the data."""
    memo.secret_index.changed(namespace or "", name or "")


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """S-74: forget the tenant's state; never delete anything in Simon or Visma.net.

    kopf runs this while the tenant's daemon is still stopping; a loop pass finishing after
    the state was forgotten would write it again, so wait for the daemon first. Every replica
    (and every installation) runs this handler when it sees the deletion, each after its own
    daemon stopped; whichever finishes first removes the finalizer."""
    stopped = memo.get("tenant_stopped")
    if stopped is not None and not stopped.is_set():
        try:
            await asyncio.wait_for(stopped.wait(), timeout=5)
        except TimeoutError:
            raise kopf.TemporaryError("waiting for the tenant's loops to stop", delay=1) from None
    key = f"{body.metadata.namespace}/{body.metadata.name}"
    await memo.store.forget_tenant(key)  # its metrics went when its service stopped


@kopf.on.probe(id="tenants")
async def tenants(memo: kopf.Memo, **_: Any) -> int:
    return len(await memo.store.tenants())


@kopf.on.probe(id="loops")
async def loops(**_: Any) -> int:
    """The liveness probe fails while a loop of a running tenant is long overdue (a pass
    that never ends, a loop that no longer runs); it passes again once the loop is on time.
    Answers how many loops run on time."""
    late = overdue()
    if late:
        shown = ", ".join(f"the {due.loop} loop of {due.tenant} (due {due.at.isoformat()})"
                          for due in late[:5])
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        raise kopf.PermanentError(f"Overdue: {shown}{more}.")
    return len(DUE)
