"""Alembic environment of the simon-visma store.

Two ways in:

* from the operator, `reconcilers.store.engine.upgrade_database`, which hands over an open
  connection in ``config.attributes["connection"]``;
* from the command line (``alembic -c .../alembic.ini upgrade head``), with the URL from
  ``-x url=...``, else ``$SIMON_VISMA_DATABASE_URL``, else the default SQLite file.

On PostgreSQL the migration transaction first takes an advisory lock, so replicas that
start together migrate one after another; on SQLite the transaction begins IMMEDIATE.
"""

from __future__ import annotations

import logging.config
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from reconcilers.store.engine import (
    MIGRATION_LOCK_ID,
    create_sync_engine,
    default_database_url,
    resolve_sqlite_path,
    sync_url,
)
from reconcilers.store.models import UTCDateTime, metadata

config = context.config
target_metadata = metadata


def _database_url() -> str:
    url = (
        config.attributes.get("database_url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or default_database_url()
    )
    return sync_url(url).render_as_string(hide_password=False)


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render the store's own column types as plain SQLAlchemy types in revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        **options,
    )


def _run(connection: Connection) -> None:
    # SQLite's DDL is transactional too once the driver leaves transactions to us.
    _configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = create_sync_engine(resolve_sqlite_path(_database_url()))
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
