"""Database URLs, engines and migrations of the operator's own state (DESIGN.md section 3).

Users give plain URLs (``sqlite:///simon-visma.db``, ``postgresql://user:pw@host/db``);
the store maps them to the asyncio drivers (``sqlite+aiosqlite``, ``postgresql+psycopg``)
for its work and to sync drivers (``sqlite``, ``postgresql+psycopg``) for alembic.

SQLite runs in WAL mode with foreign keys on and a busy timeout, and with the driver's own
transaction handling off: every transaction is begun explicitly, and writing ones with
``BEGIN IMMEDIATE`` so that concurrent writers (several tasks, several `Store` objects or
processes on one file) queue for the write lock instead of failing on a lock upgrade.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DATABASE_URL_ENV = "SIMON_VISMA_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///simon-visma.db"
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
ALEMBIC_INI = MIGRATIONS_DIR / "alembic.ini"

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_BEGIN_OPTION = "simon_visma_sqlite_begin"
"""Execution option naming the ``BEGIN`` variant for SQLite: DEFERRED, IMMEDIATE, or NONE
(no ``BEGIN``: each statement is a transaction of its own and sees the latest commit, as
every statement does under PostgreSQL's READ COMMITTED)."""

MIGRATION_LOCK_ID = 0x5349_4D56  # "SIMV": PostgreSQL advisory lock held while migrating

POOL_SIZE_ENV = "SIMON_VISMA_DATABASE_POOL_SIZE"
DEFAULT_POSTGRESQL_POOL_SIZE = 20
"""Connections kept open to PostgreSQL; as many more are opened while passes wait for one.
A pass holds a connection for one short transaction at a time, so many tenants' passes share
a few connections."""
POOL_TIMEOUT_SECONDS = 600.0
"""How long a pass waits for a free connection before its pass fails (and is retried): a
busy pool makes passes wait their turn; only a store that stopped answering fails them. The
same holds for SQLite (its pool keeps SQLAlchemy's default size: one file has one writer)."""

POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10
"""How long a connection attempt to PostgreSQL may take (unless the URL says
``?connect_timeout=``): an unreachable server is an error, not a hang."""

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}


class DatabaseUrlError(ValueError):
    """A database URL the store cannot use (a user's mistake: fix the URL or the file it
    names); `str()` is one line."""


class DatabaseUnavailableError(RuntimeError):
    """A database that cannot be reached or used now (server down, refused login, locked);
    `str()` is one line without the password."""


def default_database_url() -> str:
    """``$SIMON_VISMA_DATABASE_URL``, else the SQLite file ``simon-visma.db`` here (the
    working folder)."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def backend_name(url: str | URL) -> str:
    """``sqlite`` or ``postgresql``; a `DatabaseUrlError` for anything else."""
    return _backend(_parse(url))


def async_url(url: str | URL) -> URL:
    """The URL for the store's asyncio engine (``sqlite+aiosqlite``, ``postgresql+psycopg``)."""
    parsed = _parse(url)
    return parsed.set(drivername=_ASYNC_DRIVERS[_backend(parsed)])


def sync_url(url: str | URL) -> URL:
    """The URL for a blocking engine, as alembic uses (``sqlite``, ``postgresql+psycopg``)."""
    parsed = _parse(url)
    return parsed.set(drivername=_SYNC_DRIVERS[_backend(parsed)])


def redacted(url: str | URL) -> str:
    """The URL with its password hidden, fit for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def resolve_sqlite_path(url: str | URL) -> URL:
    """Make a SQLite file path absolute (against the working folder) and its folder exist."""
    parsed = _parse(url)
    if _backend(parsed) != "sqlite" or parsed.query.get("uri"):
        return parsed
    path = Path(parsed.database or "").expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUrlError(
            f"cannot make the folder {path.parent} for the SQLite file {path.name} "
            f"({exc.strerror or type(exc).__name__}): is part of that path a file?"
        ) from None
    return parsed.set(database=str(path))


def create_store_engine(url: str | URL) -> AsyncEngine:
    """The asyncio engine the store works with."""
    target = async_url(url)
    _require_driver(target)
    if _backend(target) == "sqlite":
        engine = create_async_engine(target, pool_timeout=POOL_TIMEOUT_SECONDS,
                                     connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        install_sqlite_hooks(engine.sync_engine)
        return engine
    size = pool_size()
    return create_async_engine(target, pool_pre_ping=True, pool_size=size, max_overflow=size,
                               pool_timeout=POOL_TIMEOUT_SECONDS, connect_args=_pg_args(target))


def pool_size() -> int:
    """$SIMON_VISMA_DATABASE_POOL_SIZE, else `DEFAULT_POSTGRESQL_POOL_SIZE`; a
    `DatabaseUrlError` when it is not a whole number of at least 1."""
    raw = os.environ.get(POOL_SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_POSTGRESQL_POOL_SIZE
    if not raw.isdigit() or int(raw) < 1:
        raise DatabaseUrlError(f"{POOL_SIZE_ENV}={raw!r}: give a whole number of at least 1")
    return int(raw)


def create_sync_engine(url: str | URL) -> Engine:
    """A blocking engine (migrations, tools); on SQLite its transactions begin IMMEDIATE."""
    target = sync_url(url)
    _require_driver(target)
    if _backend(target) == "sqlite":
        engine = create_engine(target, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        install_sqlite_hooks(engine)
        return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return create_engine(target, pool_pre_ping=True, connect_args=_pg_args(target))


def _pg_args(url: URL) -> dict[str, Any]:
    if "connect_timeout" in url.query:
        return {}
    return {"connect_timeout": POSTGRESQL_CONNECT_TIMEOUT_SECONDS}


def install_sqlite_hooks(engine: Engine) -> None:
    """WAL, foreign keys, busy timeout, and explicit BEGIN [IMMEDIATE] on every connection."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Turn off the driver's implicit transactions; "begin" below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode == "NONE":
            return
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def alembic_config(url: str | URL | None = None) -> Config:
    """An alembic configuration for the store's migrations, aimed at ``url``."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["database_url"] = sync_url(url)
    return config


def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (blocking: call it in a thread).

    Safe to run from several processes at once: SQLite queues them on the write lock,
    PostgreSQL on an advisory lock that env.py takes inside the migration transaction.

    Raises DatabaseUrlError for a URL or SQLite file that cannot be used (a folder, a file
    that is not a database) and DatabaseUnavailableError for a database that cannot be
    reached or migrated now.
    """
    target = resolve_sqlite_path(url)
    engine = create_sync_engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except DBAPIError as exc:
        raise database_error(target, exc) from None
    except CommandError as exc:
        raise DatabaseUnavailableError(
            f"cannot migrate the database {redacted(target)}: {_first_line(exc)}"
        ) from None
    finally:
        engine.dispose()


def database_error(url: str | URL, exc: DBAPIError) -> DatabaseUrlError | DatabaseUnavailableError:
    """A driver's error on opening the database at ``url`` as one line: a DatabaseUrlError
    when the URL names something that is not a usable SQLite file, else (a server that
    cannot be reached, a locked file) a DatabaseUnavailableError."""
    reason = _first_line(exc.orig if exc.orig is not None else exc)
    parsed = _parse(url)
    if _backend(parsed) == "sqlite":
        path = Path(parsed.database or "")
        if "locked" in reason:
            return DatabaseUnavailableError(f"the SQLite file {path} is locked: {reason}")
        if path.is_dir():
            return DatabaseUrlError(
                f"{path} is a folder; name a file in it, e.g. sqlite:///{path / 'simon-visma.db'}"
            )
        return DatabaseUrlError(f"{path}: cannot use it as the SQLite database ({reason})")
    return DatabaseUnavailableError(f"cannot use the database {redacted(parsed)}: {reason}")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def _parse(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            "not a database URL: use sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB"
        ) from exc
    _backend(parsed)
    if _BACKENDS.get(parsed.get_backend_name()) == "sqlite" and parsed.database in (
        None,
        "",
        ":memory:",
    ):
        raise DatabaseUrlError(
            "the store needs a SQLite file (e.g. sqlite:///simon-visma.db), "
            "not an in-memory database"
        )
    return parsed


def _require_driver(url: URL) -> None:
    if _backend(url) == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise DatabaseUrlError(
            "PostgreSQL needs the psycopg driver: pip install 'simon-visma[postgres]'"
        )


def _backend(url: URL) -> str:
    backend = _BACKENDS.get(url.get_backend_name())
    if backend is None:
        raise DatabaseUrlError(
            f"unsupported database {redacted(url)}: use sqlite:///FILE or postgresql://..."
        )
    return backend
