"""The operator at scale: N VismaIntegration resources served by the operator as a real process
(``kopf run operator/main.py``) against a real kube-apiserver (DESIGN.md section 6: 1,000
tenants on one process, schedule lag <= 10% of the interval, RSS <= 500 MB; over three
replicas a killed replica's tenants served again within 30 s).

A local control plane (controlplane/local.py) gets the CRD; the emulators run in a process of
their own (their CPU is not the operator's) with one small generated Visma.net company and one
Simon, which every tenant reads (no activation wipes, so tenants cannot empty each other's
Simon). Tenants live ten to a namespace, each namespace with the two credential Secrets.

First a baseline of a few tenants is applied and measured, then the rest up to --tenants, in
the same operator process(es). Each phase prints: the time from apply to the first and to the
last tenant Ready, tenants never Ready, and over a steady-state window: tenants silent (no
pass counted in the metrics for more than three intervals), schedule lag p50/p99 as a share
of the loop's interval (simon_visma_schedule_lag_seconds, read after each new pass), operator
CPU per pass (process CPU time from /proc over the passes counted by simon_visma_loop_runs_total),
RSS per process and API server requests per minute (its apiserver_request_total, less what the
API server does on its own, measured before the operator starts). The window begins --settle
seconds (default: the longest interval) after the last tenant is Ready, so that it does not
count the start's backlog. With --replicas > 1 and
--kill, one replica is SIGKILLed and the time until every one of its tenants names another
pod in status.servedBy and is Ready is printed. Nothing is asserted.

    python bench/operator_scale.py [--tenants 200] [--baseline 10] [--interval 10 |
        --default-schedule]
        [--seconds 60] [--database sqlite|postgresql|URL] [--replicas 1] [--kill]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "controlplane"))

from local import ControlPlane, build, missing_binaries  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from emulators.launch import tenant_manifests  # noqa: E402
from tests.cluster.operator_process import OperatorProcess, free_port, http_get  # noqa: E402

CRD = ROOT / "crds" / "vismaintegrations.yaml"
CRD_NAME = "vismaintegrations.simon-visma.io"
LIST_PATH = "/apis/simon-visma.io/v1alpha1/vismaintegrations"
PER_NAMESPACE = 10
POLL = 1.0

EMULATOR = """
import asyncio, sys
from emulators.server import serve
from emulators.simon import SimonEmulator
from emulators.visma import VismaEmulator
from emulators.visma.data import generate_visma_tenant
# Every tenant reads one company with one client; Visma.net limits each client's requests, so
# the emulator's limit (per token) is lifted: it would make 1,000 tenants share one budget.
visma, simon = VismaEmulator(rate_limit=10**9), SimonEmulator()
generate_visma_tenant(visma, customers=5, items=20, seed=1, orders=0)
asyncio.run(serve(visma, simon, "127.0.0.1", int(sys.argv[1])))
"""

Labels = tuple[str, str]
"""A tenant as (namespace, name)."""


# --------------------------------------------------------------------------- what is read


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in MB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def tenant_of(labels: dict[str, str]) -> Labels | None:
    """The tenant a series is about: `namespace` and `name` labels, or one `tenant` label
    `namespace/name` (both label schemes have been exported)."""
    if "namespace" in labels and "name" in labels:
        return labels["namespace"], labels["name"]
    if "tenant" in labels and "/" in labels["tenant"]:
        namespace, name = labels["tenant"].split("/", 1)
        return namespace, name
    return None


@dataclass
class Scrape:
    """What one operator process exports that the bench reads."""

    runs: dict[tuple[Labels, str], float] = field(default_factory=dict)
    lag: dict[tuple[Labels, str], float] = field(default_factory=dict)
    served: float | None = None
    lines: int = 0
    seconds: float = 0.0
    """How long the operator took to answer (what a Prometheus scrape costs it)."""


def scrape(operator: OperatorProcess) -> Scrape:
    started = time.monotonic()
    status, body = http_get(operator.metrics_url, timeout=30)
    found = Scrape(seconds=time.monotonic() - started, lines=body.count("\n"))
    if status != 200:
        return found
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "simon_visma_tenants_served":
                found.served = sample.value
                continue
            tenant = tenant_of(sample.labels)
            if tenant is None or "loop" not in sample.labels:
                continue
            key = (tenant, sample.labels["loop"])
            if sample.name == "simon_visma_loop_runs_total":
                found.runs[key] = sample.value
            elif sample.name == "simon_visma_schedule_lag_seconds":
                found.lag[key] = sample.value
    return found


class ApiServer:
    """The control plane's API server as the bench reads it (admin client certificate)."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.context: ssl.SSLContext = cp.ssl_context()

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.cp.server + path, context=self.context,
                                    timeout=60) as response:
            return bytes(response.read())

    def tenants(self) -> list[dict[str, Any]]:
        return list(json.loads(self.get(LIST_PATH))["items"])

    def requests(self) -> dict[tuple[str, str], float]:
        """apiserver_request_total summed by (resource, verb); non-resource requests (the
        bench's own /metrics reads, health checks) are left out."""
        counts: dict[tuple[str, str], float] = defaultdict(float)
        for family in text_string_to_metric_families(self.get("/metrics").decode()):
            for sample in family.samples:
                if sample.name != "apiserver_request_total":
                    continue
                resource = sample.labels.get("resource", "")
                if not resource:
                    continue
                if sample.labels.get("subresource"):
                    resource += "/" + sample.labels["subresource"]
                counts[(resource, sample.labels.get("verb", ""))] += sample.value
        return counts

    def pid(self) -> int:
        return next(proc.pid for name, proc in self.cp._procs if name == "kube-apiserver")


def ready(obj: dict[str, Any]) -> bool:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def key_of(obj: dict[str, Any]) -> Labels:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def difference(after: dict[Any, float], before: dict[Any, float]) -> dict[Any, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items()
            if value - before.get(key, 0.0) > 0}


# --------------------------------------------------------------------------- what is made


DEFAULT_SCHEDULE = {"masterdata": 120, "orders": 30, "imports": 120}
"""The resource's default intervals (spec.schedule), in seconds, by loop."""


def intervals(args: argparse.Namespace) -> dict[str, int]:
    """Seconds between passes of masterData, orders and imports: --interval, or with
    --default-schedule the resource's defaults."""
    if args.default_schedule:
        return dict(DEFAULT_SCHEDULE)
    return {loop: args.interval for loop in DEFAULT_SCHEDULE}


def tenant_objects(base: str, first: int, count: int,
                   every: dict[str, int]) -> list[dict[str, Any]]:
    """Namespaces, Secrets and VismaIntegrations t<first> .. t<first+count-1>, ten tenants to
    a namespace, whose loops run every `every` seconds (by loop)."""
    from emulators.visma import DEFAULT_TENANT_ID

    objects: list[dict[str, Any]] = []
    namespaces: set[str] = set()
    for index in range(first, first + count):
        namespace = f"bench-{index // PER_NAMESPACE:04d}"
        tenant, secrets = tenant_manifests(base, DEFAULT_TENANT_ID)
        if namespace not in namespaces:
            namespaces.add(namespace)
            objects.append({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": namespace}})
            for secret in secrets:
                secret["metadata"]["namespace"] = namespace
                objects.append(secret)
        tenant["metadata"] = {"name": f"t{index:04d}", "namespace": namespace}
        tenant["spec"]["schedule"] = {"masterData": f"{every['masterdata']}s",
                                      "orders": f"{every['orders']}s",
                                      "imports": f"{every['imports']}s", "cleanup": "48h"}
        # Every tenant reads the same Simon: no activation wipe, or they would empty it.
        tenant["spec"]["activation"] = {"wipeOnFirstActivation": [], "wipeOnReactivation": []}
        tenant["spec"]["imports"] = {"salesOrders": {"enabled": True}}
        objects.append(tenant)
    return objects


def apply(cp: ControlPlane, objects: list[dict[str, Any]]) -> None:
    # one kubectl per hundred objects: each must finish within the control plane's timeout
    # for a command while operators start hundreds of tenants on the same cores
    for start in range(0, len(objects), 100):
        stream = "\n---\n".join(json.dumps(obj) for obj in objects[start:start + 100])
        cp.kubectl("apply", "-f", "-", input=stream, check=True)


def start_emulators(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(workdir / "emulators.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", EMULATOR, str(port)], cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    while http_get(f"{base}/_emulator/visma/stats", timeout=1)[0] != 200:
        if process.poll() is not None:
            raise RuntimeError(f"the emulators exited: {(workdir / 'emulators.log').read_text()}")
        time.sleep(0.2)
    return process, base


class Postgres:
    """A throwaway PostgreSQL server (as the tests start one), stopped at the end."""

    def __init__(self) -> None:
        from tests.fixtures import postgres

        self.pg = postgres
        bindir = postgres.find_postgres_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")
        self.bindir = bindir
        self.user = postgres._server_user()
        # a folder of its own: the server may run as another user, who must reach it
        self.base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.data = self.base / "data"
        self.started = False

    def start(self) -> str:
        sockets = self.base / "sockets"
        sockets.mkdir()
        if self.user is not None:
            for path in (self.base, sockets):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        port = free_port()
        self.pg._run(self.user, [str(self.bindir / "initdb"), "--pgdata", str(self.data),
                                 "--username", "postgres", "--auth", "trust", "--encoding",
                                 "UTF8", "--locale", "C", "--no-sync"], cwd=self.base)
        options = (f"-p {port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={sockets} -c max_connections=300 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self.pg._run(self.user, [str(self.bindir / "pg_ctl"), "--pgdata", str(self.data),
                                 "--log", str(self.base / "server.log"), "--options", options,
                                 "--wait", "start"], cwd=self.base)
        self.started = True
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self.started:
            self.pg._run(self.user, [str(self.bindir / "pg_ctl"), "--pgdata", str(self.data),
                                     "--mode", "fast", "stop"], cwd=self.base)
        shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------- measuring


@dataclass
class Phase:
    tenants: int
    first_ready_s: float | None = None
    all_ready_s: float | None = None
    never_ready: int = 0
    silent: int = 0
    passes: int = 0
    lag_p50: float = 0.0
    lag_p99: float = 0.0
    lag_max: float = 0.0
    cpu_ms_per_pass: float = 0.0
    cpu_share: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    requests_per_minute: float = 0.0
    top_requests: list[tuple[str, float]] = field(default_factory=list)
    apiserver_cpu_share: float = 0.0
    scrape_lines: int = 0
    scrape_ms: float = 0.0
    profile: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace, cp: ControlPlane, base: str,
                 operators: list[OperatorProcess]) -> None:
        self.args = args
        self.cp = cp
        self.api = ApiServer(cp)
        self.base = base
        self.operators = operators
        self.applied = 0
        self.background: dict[tuple[str, str], float] = {}
        """API server requests per second by (resource, verb) with no operator running."""

    def measure_background(self, seconds: float) -> None:
        before = self.api.requests()
        time.sleep(seconds)
        self.background = {key: value / seconds
                           for key, value in difference(self.api.requests(), before).items()}

    def live(self) -> list[OperatorProcess]:
        return [op for op in self.operators if op.running()]

    def grow_to(self, count: int) -> Phase:
        phase = Phase(count)
        added = count - self.applied
        objects = tenant_objects(self.base, self.applied, added, intervals(self.args))
        new = {key_of(obj) for obj in objects if obj["kind"] == "VismaIntegration"}
        started = time.monotonic()  # the operator sees the first tenants while kubectl applies
        apply(self.cp, objects)
        self.applied = count
        deadline = started + max(120.0, 3.0 * max(intervals(self.args).values())
                                 + 1.0 * added)
        while time.monotonic() < deadline:
            done = sum(ready(obj) for obj in self.api.tenants() if key_of(obj) in new)
            if done and phase.first_ready_s is None:
                phase.first_ready_s = time.monotonic() - started
            if done >= added:
                phase.all_ready_s = time.monotonic() - started
                break
            time.sleep(max(POLL, count / 200))  # each look lists every tenant
        phase.never_ready = count - sum(ready(obj) for obj in self.api.tenants())
        time.sleep(self.settle_seconds_of(self.args))  # the start's backlog is worked off
        self.steady(phase)
        return phase

    @staticmethod
    def settle_seconds_of(args: argparse.Namespace) -> float:
        if args.settle is not None:
            return float(args.settle)
        return float(max(intervals(args).values()))

    def scrape_all(self) -> Scrape:
        merged = Scrape()
        for operator in self.live():
            found = scrape(operator)
            merged.lines += found.lines
            merged.seconds += found.seconds
            for key, value in found.runs.items():
                merged.runs[key] = merged.runs.get(key, 0.0) + value
            merged.lag.update(found.lag)
        return merged

    def steady(self, phase: Phase) -> None:
        """The steady-state window: passes, lag, silence, CPU, requests."""
        seconds, every = self.args.seconds, intervals(self.args)
        interval = min(every.values())
        operators = self.live()
        cpu = {op: cpu_seconds(op.process.pid) for op in operators if op.process}
        apiserver_cpu = cpu_seconds(self.api.pid())
        requests = self.api.requests()
        first = previous = self.scrape_all()
        started = time.monotonic()
        spy = self.profile(operators[0], seconds)
        last_pass: dict[Labels, float] = {}
        lags: list[float] = []
        scrapes: list[Scrape] = []
        while time.monotonic() - started < seconds:
            # one scrape per interval: each pass's lag is seen, and the scrapes (whose cost
            # grows with the tenants) are a small part of the CPU measured
            time.sleep(min(interval, max(0.5, seconds - (time.monotonic() - started))))
            now = self.scrape_all()
            scrapes.append(now)
            moment = time.monotonic()
            for key, runs in now.runs.items():
                if runs > previous.runs.get(key, 0.0):
                    last_pass[key[0]] = moment
                    if key in now.lag:
                        lags.append(now.lag[key] / every.get(key[1], interval))
            previous = now
        elapsed = time.monotonic() - started
        phase.scrape_lines = max((s.lines for s in scrapes), default=0)
        phase.scrape_ms = 1000 * statistics.median([s.seconds for s in scrapes] or [0.0])
        if spy is not None:
            phase.profile = spy.summary()
        phase.passes = int(sum(difference(previous.runs, first.runs).values()))
        spent = sum(cpu_seconds(op.process.pid) - used for op, used in cpu.items()
                    if op.process and op.running())
        phase.cpu_ms_per_pass = 1000 * spent / max(1, phase.passes)
        phase.cpu_share = spent / elapsed
        phase.apiserver_cpu_share = (cpu_seconds(self.api.pid()) - apiserver_cpu) / elapsed
        silent_after = 3 * max(every.values())
        end = time.monotonic()
        phase.silent = sum(1 for obj in self.api.tenants()
                           if end - last_pass.get(key_of(obj), started) > silent_after)
        phase.lag_p50 = statistics.median(lags) if lags else 0.0
        phase.lag_p99 = percentile(lags, 0.99)
        phase.lag_max = max(lags, default=0.0)
        for op in operators:
            if op.process and op.running():
                rss, peak = memory_mb(op.process.pid)
                phase.rss_mb.append(rss)
                phase.peak_mb.append(peak)
        made = difference(self.api.requests(), requests)
        # the bench's own reads of the tenant list during the window
        made[("vismaintegrations", "LIST")] = made.get(("vismaintegrations", "LIST"), 0) - 1
        own = {key: max(0.0, value - self.background.get(key, 0.0) * elapsed)
               for key, value in made.items()}
        phase.requests_per_minute = 60 * sum(own.values()) / elapsed
        phase.top_requests = sorted(((f"{verb} {resource}", 60 * value / elapsed)
                                     for (resource, verb), value in own.items() if value >= 1),
                                    key=lambda item: -item[1])[:5]

    def profile(self, operator: OperatorProcess, seconds: float) -> Spy | None:
        """py-spy on the operator for the window, when --py-spy asks and it is installed."""
        if not self.args.py_spy or operator.process is None:
            return None
        return Spy(operator.process.pid, seconds, Path(self.args.py_spy))

    def takeover(self) -> str:
        """SIGKILL a replica serving tenants; how long until each of its tenants names another
        pod in status.servedBy (the target: served again), and until each is Ready again."""
        tenants = self.api.tenants()
        served = defaultdict(list)
        for obj in tenants:
            served[(obj.get("status") or {}).get("servedBy")].append(key_of(obj))
        if set(served) == {None}:
            return "not measured: no tenant names a pod in status.servedBy"
        victim = next((op for op in self.operators
                       if op.extra_env.get("SIMON_VISMA_POD_NAME") in served), None)
        if victim is None or victim.process is None:
            return "not measured: no replica named in status.servedBy is running"
        pod = victim.extra_env["SIMON_VISMA_POD_NAME"]
        moved = set(served[pod])
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        started = time.monotonic()
        deadline = started + max(120.0, 10.0 * min(intervals(self.args).values()))
        served_after: float | None = None
        while time.monotonic() < deadline:
            mine = [obj for obj in self.api.tenants() if key_of(obj) in moved]
            elsewhere = [obj for obj in mine
                         if (obj.get("status") or {}).get("servedBy") not in (pod, None)]
            if served_after is None and len(elsewhere) == len(mine):
                served_after = time.monotonic() - started
            pending = [obj for obj in mine if obj not in elsewhere or not ready(obj)]
            if not pending:
                return (f"{len(moved)} tenants of {pod} served by the others "
                        f"{served_after:.1f}s and Ready {time.monotonic() - started:.1f}s "
                        f"after its SIGKILL")
            time.sleep(POLL)
        return (f"{len(pending)} of {len(moved)} tenants of {pod} still not taken over "
                f"{time.monotonic() - started:.0f}s after its SIGKILL")


class Spy:
    """`py-spy record --gil` of one process (samples where it runs Python code, i.e. where its
    CPU goes), kept as a raw stack file; `summary()` names the project's heaviest frames."""

    def __init__(self, pid: int, seconds: float, output: Path) -> None:
        self.output = output
        tool = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.process = subprocess.Popen(
            [tool, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--gil",
             "--nonblocking", "--format", "raw", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def summary(self, top: int = 12) -> list[str]:
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return ["py-spy did not finish"]
        if not self.output.exists():
            return [f"py-spy wrote nothing (exit {self.process.returncode})"]
        inclusive: dict[str, int] = defaultdict(int)
        total = 0
        # one stack a line, ending in its count (frames may hold any other line break)
        for line in self.output.read_text(errors="replace").split("\n"):
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            for frame in set(stack.split(";")):
                if "reconcilers/" in frame or "prometheus_client/exposition" in frame \
                        or "kopf/_core/engines" in frame or "aiosqlite/core" in frame:
                    inclusive[frame] += int(count)
        heaviest = sorted(inclusive.items(), key=lambda item: -item[1])[:top]
        return [f"{100 * n / max(1, total):5.1f}% {frame}" for frame, n in heaviest]


def schedule_words(args: argparse.Namespace) -> str:
    if args.default_schedule:
        return "the default schedule (orders every 30s, masterData and imports every 2m)"
    return f"masterData/orders/imports every {args.interval}s"


def show(phases: list[Phase], args: argparse.Namespace) -> None:
    def seconds(value: float | None) -> str:
        return f"{value:.1f}s" if value is not None else "never"

    print(f"\nOperator at scale: {args.replicas} replica(s), {args.database} database, "
          f"{schedule_words(args)}, steady-state window "
          f"{args.seconds:.0f}s from {Bench.settle_seconds_of(args):.0f}s after the last Ready "
          "(targets: lag p99 <= 10% of the interval, RSS <= 500 MB per "
          "process at 1,000 tenants, an idle pass a few ms of CPU)")
    print(f"{'tenants':>7} {'1st Ready':>9} {'all Ready':>9} {'never':>5} {'silent':>6} "
          f"{'passes':>6} {'lag p50':>7} {'lag p99':>7} {'lag max':>7} {'cpu/pass':>8} "
          f"{'op cpu':>6} {'RSS MB':>13} {'api req/min':>11} {'api cpu':>7}")
    for p in phases:
        rss = "/".join(f"{r:.0f}" for r in p.rss_mb) or "-"
        print(f"{p.tenants:>7} {seconds(p.first_ready_s):>9} {seconds(p.all_ready_s):>9} "
              f"{p.never_ready:>5} {p.silent:>6} {p.passes:>6} {p.lag_p50:>7.1%} "
              f"{p.lag_p99:>7.1%} {p.lag_max:>7.1%} {p.cpu_ms_per_pass:>6.1f}ms "
              f"{p.cpu_share:>6.0%} {rss:>13} {p.requests_per_minute:>11.0f} "
              f"{p.apiserver_cpu_share:>7.0%}")
    for p in phases:
        top = ", ".join(f"{name} {rate:.0f}" for name, rate in p.top_requests)
        peak = "/".join(f"{r:.0f}" for r in p.peak_mb)
        print(f"  {p.tenants} tenants: peak RSS {peak} MB; one metrics scrape {p.scrape_lines} "
              f"lines in {p.scrape_ms:.0f} ms; requests/min by kind: {top or '-'}")
    if len(phases) > 1 and phases[0].rss_mb and phases[-1].rss_mb:
        grown = sum(phases[-1].rss_mb) - sum(phases[0].rss_mb)
        added = phases[-1].tenants - phases[0].tenants
        print(f"  RSS per added tenant: {grown / added:.2f} MB ({phases[0].tenants} -> "
              f"{phases[-1].tenants} tenants)")
    for p in phases:
        if p.profile:
            print(f"  where the operator's CPU went at {p.tenants} tenants (py-spy --gil, share "
                  "of samples, inclusive):")
            for line in p.profile:
                print(f"    {line}")
    print("(1st/all Ready: from kubectl apply of the phase's new tenants; lag as a share of "
          "the loop's interval; cpu/pass: operator CPU time over the window / passes counted; "
          "op cpu and api cpu: share of one core used by the operator(s) and the kube-apiserver)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=10,
                        help="tenants measured first, in the same run (0: none)")
    parser.add_argument("--interval", type=int, default=10,
                        help="seconds between passes of masterData, orders and imports")
    parser.add_argument("--default-schedule", action="store_true",
                        help="the resource's default intervals instead (orders 30s, "
                             "masterData and imports 2m): 1,000 tenants' real pass rate")
    parser.add_argument("--seconds", type=float, default=60,
                        help="length of each steady-state window")
    parser.add_argument("--database", default="sqlite",
                        help="sqlite, postgresql (a throwaway server) or a database URL")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--kill", action="store_true",
                        help="with --replicas > 1: SIGKILL one replica at the end")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds from the last tenant Ready to the steady-state window "
                             "(default: the longest interval), so that the window does not "
                             "count the start's backlog")
    parser.add_argument("--spread", type=float, default=None,
                        help="first-run spread in seconds (default: the longest interval)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--py-spy", metavar="FILE",
                        help="record the (first) operator with py-spy during each window into "
                             "FILE (raw stacks; needs py-spy) and print its heaviest frames")
    args = parser.parse_args()
    if args.replicas > 1 and args.database == "sqlite":
        parser.error("several replicas need PostgreSQL: --database postgresql")

    if missing_binaries():
        print("building the control plane (controlplane/build.sh) ...", flush=True)
        if build().returncode != 0:
            raise SystemExit("the control plane could not be built")
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-scale-"))
    cp = ControlPlane(workdir / "cp").start()
    emulators: subprocess.Popen[bytes] | None = None
    postgres: Postgres | None = None
    operators: list[OperatorProcess] = []
    phases: list[Phase] = []
    note = ""
    try:
        cp.kubectl("apply", "-f", str(CRD), check=True)
        cp.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s",
                   check=True)
        emulators, base = start_emulators(workdir)
        database = args.database
        if database == "postgresql":
            postgres = Postgres()
            database = postgres.start()
        elif database == "sqlite":
            database = f"sqlite:///{workdir}/simon-visma.db"
        spread = (args.spread if args.spread is not None
                  else max(intervals(args).values()))
        for index in range(args.replicas):
            env = {"SIMON_VISMA_DATABASE_URL": database,
                   "SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS": f"{spread:g}"}
            if args.replicas > 1:
                env.update(SIMON_VISMA_POD_NAME=f"simon-visma-{index}",
                           SIMON_VISMA_POD_NAMESPACE="simon-visma",
                           SIMON_VISMA_INSTALLATION="simon-visma")
            operators.append(OperatorProcess(workdir / f"operator-{index}", cp.kubeconfig,
                                             env=env, verbose=False))
        if args.replicas > 1:
            cp.kubectl("create", "namespace", "simon-visma", check=True)
        bench = Bench(args, cp, base, operators)
        bench.measure_background(10)
        for operator in operators:
            operator.start()
        for count in sorted({c for c in (args.baseline, args.tenants) if c > 0}):
            print(f"== {count} tenants", flush=True)
            phases.append(bench.grow_to(count))
        if args.kill and args.replicas > 1:
            note = bench.takeover()
    finally:
        for operator in operators:
            operator.stop()
        if emulators is not None:
            emulators.terminate()
            emulators.wait(10)
        if postgres is not None:
            postgres.stop()
        cp.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work folder kept: {workdir}")
    show(phases, args)
    if note:
        print(f"takeover: {note}")


if __name__ == "__main__":
    main()
