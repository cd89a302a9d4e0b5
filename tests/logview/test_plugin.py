"""The kubectl plugin's command line and what it says before any API server answers: exit 2
with one line for a bad command line, exit 1 with one line when the kubeconfig cannot be used
or the API server cannot be reached; never a traceback. (Reading a log through a real API
server: tests/cluster/test_kubectl_plugin.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PLUGIN = Path(sys.executable).with_name("kubectl-simon_visma")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    environment.update(env or {})
    return subprocess.run([str(PLUGIN), *args], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)


def one_line(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("kubectl simon-visma: ") and says in done.stderr, done.stderr


@pytest.mark.parametrize(("args", "says"), [
    ([], "the following arguments are required: COMMAND"),
    (["logs", "acme"], "invalid choice: 'logs'"),
    (["log"], "the following arguments are required: NAME"),
    (["log", "Acme_1"], "'Acme_1' is not a valid resource name"),
    (["log", "../../secrets"], "is not a valid resource name"),
    (["log", "acme", "-n", "Tenant\x1b[2J"], "'Tenant\\x1b[2J' is not a valid namespace"),
    (["log", "acme", "--severity", "debug"], "invalid choice: 'debug'"),
    (["log", "acme", "--limit", "0"], "must be a whole number from 1 to 1000"),
    (["log", "acme", "--limit", "1001"], "must be a whole number from 1 to 1000"),
    (["log", "acme", "--service", "a/b"], "'a/b' is not a valid Service name"),
    (["log", "acme", "--operator-namespace", "x" * 64], "is not a valid namespace"),
])
def test_a_bad_command_line_is_exit_2(args: list[str], says: str) -> None:
    done = run(*args)
    one_line(done, 2, says)
    assert "\x1b" not in done.stderr


def test_help_names_the_command_as_kubectl_runs_it() -> None:
    done = run("log", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: kubectl simon-visma log")
    for option in ("--severity", "--json", "--kubeconfig", "--context", "--operator-namespace",
                   "--service", "-n NAMESPACE"):
        assert option in done.stdout


def test_no_kubeconfig(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.kubeconfig"
    one_line(run("log", "acme", "--kubeconfig", str(missing)), 1,
             f"cannot use the kubeconfig {missing}")
    one_line(run("log", "acme", env={"KUBECONFIG": str(missing)}), 1,
             f"cannot use the kubeconfig {missing}")


def kubeconfig(path: Path, server: str, contexts: dict[str, str]) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": "u",
                                                "namespace": namespace}}
                     for name, namespace in contexts.items()],
        "current-context": next(iter(contexts)),
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_unknown_context(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", "http://127.0.0.1:1", {"work": "office"})
    one_line(run("log", "acme", "--kubeconfig", str(config), "--context", "home"), 1,
             "cannot use the kubeconfig")


def test_an_api_server_nobody_answers_for(tmp_path: Path) -> None:
    """Nothing listens at the kubeconfig's server: one line naming it; the token never
    appears."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        server = f"http://127.0.0.1:{unused.getsockname()[1]}"
        config = kubeconfig(tmp_path / "config", server, {"work": "office"})
        done = run("log", "acme", "--kubeconfig", str(config))
    one_line(done, 1, f"cannot reach the API server at {server}")
    assert "not-a-real-token" not in done.stderr
