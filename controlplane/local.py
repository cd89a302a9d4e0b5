"""A local Kubernetes control plane (etcd + kube-apiserver) for tests, started like envtest.

Binaries come from ``controlplane/build.sh`` (cache dir ``$SIMON_VISMA_BIN``, default
``~/.cache/simon-visma/bin``). No kubelet, scheduler or controllers run: no pods start, namespaces
never finish deleting and there is no garbage collection, exactly as with controller-runtime's
envtest.

Use from Python::

    with ControlPlane(workdir) as cp:
        cp.kubectl("get", "namespaces")

or from a shell: ``python controlplane/local.py up`` (prints the KUBECONFIG path and runs until
Ctrl-C).

Standard library + PyYAML only.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

import yaml

HERE = Path(__file__).resolve().parent
BINARIES = ("etcd", "kube-apiserver", "kubectl", "helm")


def bin_dir() -> Path:
    """The cache dir that build.sh fills."""
    env = os.environ.get("SIMON_VISMA_BIN")
    return Path(env) if env else Path.home() / ".cache" / "simon-visma" / "bin"


def missing_binaries(directory: Path | None = None) -> list[str]:
    directory = directory or bin_dir()
    return [b for b in BINARIES if not os.access(directory / b, os.X_OK)]


def go_available() -> bool:
    return bool(os.environ.get("GO") or shutil.which("go") or Path("/usr/local/go/bin/go").exists())


def build(
    directory: Path | None = None, log: IO[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run build.sh (idempotent: reuses binaries whose version stamp is unchanged)."""
    env = dict(os.environ, SIMON_VISMA_BIN=str(directory or bin_dir()))
    return subprocess.run(
        ["bash", str(HERE / "build.sh")], env=env, text=True, stdout=log, stderr=subprocess.STDOUT
    )


def kubernetes_version() -> str:
    """The Kubernetes version pinned in apiserver/go.mod, e.g. ``v1.37.2``."""
    for line in (HERE / "apiserver" / "go.mod").read_text().splitlines():
        words = line.split()
        if words[:1] == ["require"]:
            words = words[1:]
        if len(words) >= 2 and words[0] == "k8s.io/kubernetes":
            return words[1]
    raise RuntimeError("k8s.io/kubernetes not required in apiserver/go.mod")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ec_key(path: str, cwd: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path, cwd=cwd
    )


def _signed_cert(name: str, subject: str, extensions: str, cwd: Path) -> None:
    """Create ``name.key``/``name.crt`` signed by ``ca.crt``/``ca.key`` in ``cwd``."""
    _ec_key(f"{name}.key", cwd)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=cwd,
    )


def generate_pki(cert_dir: Path) -> None:
    """A throwaway CA, a serving cert for 127.0.0.1/localhost, an admin client cert in
    system:masters and a service-account signing key pair."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    _ec_key("ca.key", cert_dir)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=simon-visma-test-ca",
        "-days",
        "30",
        "-sha256",
        "-out",
        "ca.crt",
        cwd=cert_dir,
    )
    _signed_cert(
        "apiserver",
        "/CN=localhost",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:10.0.0.1\n",
        cert_dir,
    )
    _signed_cert(
        "admin",
        "/O=system:masters/CN=admin",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n",
        cert_dir,
    )
    _ec_key("sa-signer.key", cert_dir)
    _openssl("pkey", "-in", "sa-signer.key", "-pubout", "-out", "sa-signer.pub", cwd=cert_dir)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


class ControlPlane:
    """etcd + kube-apiserver on free 127.0.0.1 ports under ``workdir``."""

    def __init__(
        self, workdir: Path | str, binaries: Path | None = None, start_timeout: float = 60.0
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.bin = Path(binaries or bin_dir())
        self.start_timeout = start_timeout
        self.cert_dir = self.workdir / "pki"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = ""
        self.etcd_url = ""
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        missing = missing_binaries(self.bin)
        if missing:
            raise RuntimeError(
                f"missing {', '.join(missing)} in {self.bin}: run controlplane/build.sh"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        generate_pki(self.cert_dir)
        try:
            self._start_etcd()
            self._start_apiserver()
        except BaseException:
            self.stop()
            raise
        self._write_kubeconfig(
            self.kubeconfig,
            {
                "client-certificate-data": _b64(self.cert_dir / "admin.crt"),
                "client-key-data": _b64(self.cert_dir / "admin.key"),
            },
        )
        return self

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd (SIGTERM, then SIGKILL after 15 s)."""
        while self._procs:
            _, proc = self._procs.pop()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # the child keeps its own copy
        proc = subprocess.Popen(
            [str(self.bin / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._procs.append((name, proc))
        return proc

    def _wait(
        self,
        name: str,
        proc: subprocess.Popen[bytes],
        probe: str,
        context: ssl.SSLContext | None = None,
    ) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(probe, timeout=2, context=context) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError) as e:
                last = str(e)
            time.sleep(0.2)
        log = (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
        state = f"exited with {proc.returncode}" if proc.poll() is not None else "timed out"
        raise RuntimeError(f"{name} {state} ({probe}: {last}); log tail:\n{log}")

    def _start_etcd(self) -> None:
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        proc = self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self.etcd_url = client
        self._wait("etcd", proc, f"{client}/health")

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        c = self.cert_dir
        proc = self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={c}",
                f"--tls-cert-file={c / 'apiserver.crt'}",
                f"--tls-private-key-file={c / 'apiserver.key'}",
                f"--client-ca-file={c / 'ca.crt'}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                "--service-cluster-ip-range=10.0.0.0/24",
                # A loopback advertise address is refused by the lease endpoint reconciler; no
                # pod needs the "kubernetes" Service endpoints here.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.server}/",
                f"--service-account-key-file={c / 'sa-signer.pub'}",
                f"--service-account-signing-key-file={c / 'sa-signer.key'}",
            ],
        )
        self._wait("kube-apiserver", proc, f"{self.server}/readyz", self.ssl_context())

    # clients ---------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the CA and presents the admin client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
        ctx.load_cert_chain(self.cert_dir / "admin.crt", self.cert_dir / "admin.key")
        return ctx

    def _write_kubeconfig(self, path: Path, user: dict[str, str]) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": _b64(self.cert_dir / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
            "current-context": "local",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def kubeconfig_for_token(self, token: str, path: Path | str | None = None) -> Path:
        """Write a kubeconfig that authenticates with a bearer ``token`` (e.g. from
        :meth:`service_account_token`)."""
        if path is None:
            fd, name = tempfile.mkstemp(prefix="token-", suffix=".kubeconfig", dir=self.workdir)
            os.close(fd)
            path = name
        return self._write_kubeconfig(Path(path), {"token": token})

    def service_account_token(self, name: str, namespace: str, duration: str = "1h") -> str:
        """Mint a token for an existing ServiceAccount with the TokenRequest API."""
        cp = self.kubectl(
            "create", "token", name, "-n", namespace, f"--duration={duration}", check=True
        )
        return cp.stdout.strip()

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """Environment for client tools: KUBECONFIG plus kubectl/helm caches inside workdir."""
        state = self.workdir / "client-state"
        return dict(
            os.environ,
            KUBECONFIG=str(kubeconfig or self.kubeconfig),
            KUBECACHEDIR=str(state / "kube-cache"),
            HELM_CACHE_HOME=str(state / "helm-cache"),
            HELM_CONFIG_HOME=str(state / "helm-config"),
            HELM_DATA_HOME=str(state / "helm-data"),
        )

    def _run(
        self,
        tool: str,
        args: tuple[str, ...],
        input: str | None,
        kubeconfig: Path | None,
        check: bool,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / tool), *args],
            input=input,
            text=True,
            capture_output=True,
            env=self.env(kubeconfig),
            check=check,
            timeout=120,
        )

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this control plane (admin unless ``kubeconfig``)."""
        return self._run("kubectl", args, input, kubeconfig, check)

    def helm(
        self,
        *args: str,
        input: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built helm against this control plane."""
        return self._run("helm", args, input, kubeconfig, check)

    def version(self) -> dict[str, str]:
        with urllib.request.urlopen(f"{self.server}/version", context=self.ssl_context()) as r:
            return dict(json.load(r))


_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


class ExistingCluster(ControlPlane):
    """A cluster given by a kubeconfig (a kind cluster, say): the same helpers as
    :class:`ControlPlane`, with nothing to start or stop."""

    def __init__(self, kubeconfig: Path | str, workdir: Path | str,
                 binaries: Path | None = None) -> None:
        super().__init__(workdir, binaries)
        self.kubeconfig = Path(kubeconfig).resolve()
        config = yaml.safe_load(self.kubeconfig.read_text())
        context_name = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        self._cluster = next(c["cluster"] for c in config["clusters"]
                             if c["name"] == context["cluster"])
        self.server = self._cluster["server"]

    def start(self) -> ExistingCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self

    def stop(self) -> None:
        pass

    def _write_kubeconfig(self, path: Path, user: dict[str, str]) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "given", "cluster": self._cluster}],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "given", "context": {"cluster": "given", "user": "user"}}],
            "current-context": "given",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the child if the parent dies, so no etcd/apiserver is left behind."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _up(args: argparse.Namespace) -> int:
    missing = missing_binaries()
    if missing:
        print(f"building {', '.join(missing)} with controlplane/build.sh ...", flush=True)
        if build().returncode != 0:
            return 1
    workdir = (
        Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="simon-visma-cp-"))
    )
    cp = ControlPlane(workdir)
    try:
        cp.start()
        print(f"kube-apiserver {cp.version().get('gitVersion')} at {cp.server}")
        print(f"logs in {workdir}")
        print(f"export KUBECONFIG={cp.kubeconfig}")
        print(f"kubectl: {cp.bin / 'kubectl'}   (Ctrl-C stops the control plane)", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(p.poll() is None for _, p in cp._procs):
            time.sleep(1)
        print("a control-plane process exited; see the logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cp.stop()
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start etcd + kube-apiserver and run until Ctrl-C")
    up.add_argument("--workdir", help="state dir (default: a temp dir removed on exit)")
    up.add_argument("--keep", action="store_true", help="keep the temp state dir on exit")
    sub.add_parser("build", help="run build.sh")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build().returncode
    return _up(args)


if __name__ == "__main__":
    sys.exit(main())
