"""Alembic environment: runs on the connection that ``Catalog.open`` hands in (see persistence.py).

There is no alembic.ini, so the package works when installed: ``migrate_to_head`` builds the Alembic
config in code and passes an open connection in ``config.attributes["connection"]``. Offline mode
(``alembic upgrade --sql``) reads the URL from the ``sqlalchemy.url`` main option instead.
"""

from __future__ import annotations

from alembic import context

from ai.infrastructure.database.schema import metadata


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("catalog migrations need an open connection in config.attributes['connection']")
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
