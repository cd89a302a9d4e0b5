"""URLs, engines and alembic migrations of the store (DESIGN.md section 3)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from reconcilers.store import (
    DATABASE_URL_ENV,
    DatabaseUrlError,
    alembic_config,
    async_url,
    default_database_url,
    open_store,
    sync_url,
    upgrade_database,
)
from reconcilers.store.engine import ALEMBIC_INI, create_sync_engine, redacted
from reconcilers.store.models import metadata

REPO = Path(__file__).resolve().parents[2]


def test_urls_map_to_the_right_drivers() -> None:
    """Plain URLs from users map to asyncio drivers for the store, sync ones for alembic."""
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert sync_url("sqlite+aiosqlite:///x.db").drivername == "sqlite"
    for url in ("postgresql://u:pw@h/db", "postgres://u:pw@h/db", "postgresql+psycopg2://u@h/db"):
        assert async_url(url).drivername == "postgresql+psycopg"
        assert sync_url(url).drivername == "postgresql+psycopg"
    mapped = async_url("postgresql://u:secret@db.example:5433/ops?sslmode=require")
    assert (mapped.host, mapped.port, mapped.database, mapped.password) == (
        "db.example",
        5433,
        "ops",
        "secret",
    )
    assert mapped.query == {"sslmode": "require"}
    assert "secret" not in redacted("postgresql://u:secret@h/db")
    for bad in ("mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "not a url"):
        with pytest.raises(DatabaseUrlError):
            async_url(bad)


def test_default_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """$SIMON_VISMA_DATABASE_URL, else a SQLite file in the working folder."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert default_database_url() == "sqlite:///simon-visma.db"
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://u@h/db")
    assert default_database_url() == "postgresql://u@h/db"


@pytest.mark.anyio
async def test_open_store_default_is_a_sqlite_file_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_store() with no URL makes simon-visma.db here, in WAL mode."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    store = await open_store()
    try:
        assert store.dialect == "sqlite"
        await store.tenant("ns/a").marks.set("items", "x")
    finally:
        await store.close()
    db = tmp_path / "simon-visma.db"
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.anyio
async def test_sqlite_connections_have_foreign_keys_and_wal(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'sub' / 'dir' / 'state.db'}")
    try:
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        await store.close()


def _schema_diffs(url: str) -> list[object]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_sync_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_gives_exactly_the_models_schema(database_url: str) -> None:
    """alembic upgrade head on an empty database = the models' metadata, no diffs."""
    assert _tables(database_url) == set()
    upgrade_database(database_url)
    assert _tables(database_url) == set(metadata.tables) | {"alembic_version"}
    assert _schema_diffs(database_url) == []
    upgrade_database(database_url)  # again: nothing to do
    assert _schema_diffs(database_url) == []


def _alembic_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_alembic_command_line_with_x_url(database_url: str, tmp_path: Path) -> None:
    """`alembic -c .../alembic.ini -x url=URL upgrade head` migrates that database."""
    env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    result = _alembic_cli("-x", f"url={database_url}", "upgrade", "head", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _schema_diffs(database_url) == []
    current = _alembic_cli("-x", f"url={database_url}", "current", env=env, cwd=tmp_path)
    assert current.returncode == 0, current.stderr
    assert "0003 (head)" in current.stdout
    down = _alembic_cli("-x", f"url={database_url}", "downgrade", "base", env=env, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert _tables(database_url) <= {"alembic_version"}
    upgrade_database(database_url)
    assert _schema_diffs(database_url) == []
    assert not (tmp_path / "simon-visma.db").exists()


def test_alembic_command_line_with_env_url(database_url: str, tmp_path: Path) -> None:
    """`SIMON_VISMA_DATABASE_URL=URL alembic -c .../alembic.ini upgrade head` works too."""
    env = {**os.environ, DATABASE_URL_ENV: database_url}
    result = _alembic_cli("upgrade", "head", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _schema_diffs(database_url) == []


def test_alembic_ini_ships_with_the_package() -> None:
    """pyproject's package data covers the migrations (ini, env.py, revisions, template)."""
    migrations = REPO / "reconcilers" / "store" / "migrations"
    assert ALEMBIC_INI == migrations / "alembic.ini"
    assert (migrations / "env.py").is_file()
    assert (migrations / "script.py.mako").is_file()
    assert list((migrations / "versions").glob("0001_*.py"))
    pyproject = (REPO / "pyproject.toml").read_text()
    for pattern in (
        "store/migrations/*.ini",
        "store/migrations/**/*.py",
        "store/migrations/*.mako",
    ):
        assert pattern in pyproject


def test_activated_pairs_migration_keeps_activations(database_url: str) -> None:
    """Revision 0002 adds the activated pairs (S-74) to a database in use: a tenant already
    re-activated stays in its re-activation, one in its first activation stays there, and
    the revision downgrades again."""
    upgrade_database(database_url, "0001")
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            for tenant, count in (("ns/once", 1), ("ns/twice", 2)):
                conn.execute(
                    text("INSERT INTO tenant_activations (tenant, enabled, activation_count, "
                         "wiped_kinds, updated_at) VALUES (:tenant, :enabled, :count, "
                         "'[]', :at)"),
                    {"tenant": tenant, "enabled": True, "count": count,
                     "at": datetime(2026, 3, 2, 9, tzinfo=UTC)})
        upgrade_database(database_url)
        assert _schema_diffs(database_url) == []
        with engine.connect() as conn:
            got = dict(conn.execute(
                text("SELECT tenant, reactivation FROM tenant_activations")).all())
        assert {k: bool(v) for k, v in got.items()} == {"ns/once": False, "ns/twice": True}
        command.downgrade(alembic_config(database_url), "0001")
        assert "activated_pairs" not in _tables(database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tenant_activations")).scalar() == 2
    finally:
        engine.dispose()
