"""Alembic environment: kyso passes its own connection (``Store.migrate``); the CLI form uses KYSO_DATABASE_URL."""
from alembic import context
from sqlalchemy import create_engine

from ca.store.models import Base

target_metadata = Base.metadata


def run() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from ca.settings import Settings
    from ca.store.db import normalise_url

    engine = create_engine(normalise_url(Settings.from_env().database_url))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
