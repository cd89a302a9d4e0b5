"""The operator as a real process: ``python -m kopf run operator/main.py`` against a cluster.

`OperatorProcess` starts it with a kubeconfig (the control plane's admin, or a ServiceAccount
token), its own SQLite database, free metrics, liveness and log view ports (operators of tests
running side by side never collide) and ``SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS=0``; waits
until the liveness endpoint answers; stops it with SIGTERM (then SIGKILL). stdout and stderr
go to two files in the work folder, which `output()` reads, so tests can assert on what the
operator printed (S-82).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.fixtures.cluster import local

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "operator" / "main.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return 0, ""


class OperatorProcess:
    """One operator process; `start()` / `stop()`, or use it as a context manager."""

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        *,
        namespaces: list[str] | None = None,
        env: dict[str, str] | None = None,
        verbose: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.kubeconfig = Path(kubeconfig)
        self.namespaces = namespaces
        self.extra_env = env or {}
        self.verbose = verbose
        self.database = self.workdir / "simon-visma.db"
        self.database_url = f"sqlite:///{self.database}"
        self.stdout_path = self.workdir / "operator.stdout.log"
        self.stderr_path = self.workdir / "operator.stderr.log"
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.log_view_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def liveness_url(self) -> str:
        return f"http://127.0.0.1:{self.liveness_port}/healthz"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self) -> list[str]:
        scope = ([f"--namespace={ns}" for ns in self.namespaces] if self.namespaces
                 else ["--all-namespaces"])
        return [sys.executable, "-m", "kopf", "run", str(MAIN), *scope, "--standalone",
                f"--liveness={self.liveness_url}", *(["--verbose"] if self.verbose else [])]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SIMON_VISMA_", "KUBERNETES_SERVICE_"))}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            SIMON_VISMA_DATABASE_URL=self.database_url,
            SIMON_VISMA_METRICS_PORT=str(self.metrics_port),
            SIMON_VISMA_LOG_VIEW_PORT=str(self.log_view_port),
            SIMON_VISMA_FIRST_RUN_SPREAD_SECONDS="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen(
                self.command(), cwd=self.workdir, env=self.environment(), stdout=out,
                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=local._die_with_parent)  # no operator outlives the tests
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}:\n"
                                   f"{self.tail()}")
            if http_get(self.liveness_url, timeout=2)[0] == 200:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the operator's liveness endpoint did not answer:\n{self.tail()}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what the operator printed, served and stored ------------------------------------------

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def tail(self, chars: int = 4000) -> str:
        return self.output()[-chars:]

    def metrics(self) -> str:
        status, body = http_get(self.metrics_url)
        assert status == 200, f"metrics endpoint answered {status}"
        return body

    def liveness(self) -> tuple[int, str]:
        return http_get(self.liveness_url)

    def stored_tenants(self) -> list[str]:
        """The tenants with any state in the operator's database (S-74)."""
        from reconcilers.store import open_store

        async def read() -> list[str]:
            store = await open_store(self.database_url, migrate=False)
            try:
                return await store.tenants()
            finally:
                await store.close()

        return asyncio.run(read())

    def describe(self) -> dict[str, Any]:
        return {"command": self.command(), "workdir": str(self.workdir),
                "returncode": self.process.returncode if self.process else None}
