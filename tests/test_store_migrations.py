"""The Alembic migrations build exactly the schema the models describe (nothing forgotten in either)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ca.store import Store
from ca.store.models import Base


def test_migrations_match_the_models(tmp_path) -> None:  # noqa: ANN001
    store = Store(f"sqlite:///{tmp_path / 'schema.db'}")
    store.migrate()
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff
    current, head = store.schema_revisions()
    assert current == head
