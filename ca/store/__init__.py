"""The store: SQLAlchemy 2 over SQLite (default, WAL) or PostgreSQL, schema managed by Alembic."""
from ca.store.db import Store

__all__ = ["Store"]
