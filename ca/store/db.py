"""Engine, sessions and migrations.

SQLite: WAL, ``synchronous=FULL`` (a commit is durable before we answer, DESIGN rule 7), foreign keys on,
a 30 s busy timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so two writers queue instead of
failing with "database is locked" on lock upgrade. Reads use deferred transactions and run concurrently.
PostgreSQL: read committed; writers that must serialise lock a row (``SELECT … FOR UPDATE``).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import Unavailable
from ca.store.prepared import Prepared, RawTransaction, wrap_driver_error

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver kyso installs)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _unavailable(exc: OperationalError) -> Unavailable:
    return Unavailable(f"Database unavailable: {exc.orig.__class__.__name__}", "Cơ sở dữ liệu không sẵn sàng.",
                       code="database_unavailable")


def _unicode_lower(value):  # noqa: ANN001, ANN202 - SQLite user function
    return value.lower() if isinstance(value, str) else value


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # SQLite's lower() folds ASCII only ("Đà Nẵng" stayed "Đà nẵng"); PostgreSQL folds Unicode. Same answer on both:
        dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Store:
    def __init__(self, url: str, *, echo: bool = False):
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict = {"echo": echo, "future": True}
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        self.engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
            self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self._write_engine = self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with self._read() as session:
                yield session
        except OperationalError as exc:
            raise _unavailable(exc) from None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends without error, rolled back otherwise."""
        try:
            with self._write() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise _unavailable(exc) from None

    @contextmanager
    def raw_write(self) -> Iterator[RawTransaction]:
        """``write()`` for prepared statements (ca/store/prepared.py): one write transaction on a pooled DBAPI
        connection (``BEGIN IMMEDIATE`` on SQLite), committed when the block ends without error, rolled back
        otherwise. The issuance hot path (ca/groupcommit.py) writes through it."""
        raw = self._raw_connection()
        try:
            tx = RawTransaction(raw.dbapi_connection, self.engine.dialect)  # its driver errors are SQLAlchemy's
            if self.is_sqlite:
                tx.begin_immediate()
            try:
                yield tx
                tx.commit()
            except BaseException:
                try:
                    raw.rollback()
                except Exception:  # noqa: BLE001 - the first error is the one to report
                    pass
                raise
        except OperationalError as exc:
            raise _unavailable(exc) from None
        finally:
            raw.close()

    def fetch_one(self, prepared: Prepared, values: dict[str, Any]) -> tuple | None:
        """One row of a prepared SELECT, on a pooled connection, outside any explicit transaction (a single
        consistent read). For per-request reads such as the bearer-token check."""
        raw = self._raw_connection()
        try:
            return RawTransaction(raw.dbapi_connection, self.engine.dialect).one(prepared, values)
        except OperationalError as exc:
            raise _unavailable(exc) from None
        finally:
            raw.close()

    def _raw_connection(self) -> Any:
        """A pooled DBAPI connection. ``Engine.raw_connection`` hands back the driver's own connect errors (it
        does not wrap them as ``Engine.connect`` does): a database that is down is ``Unavailable`` either way."""
        try:
            return self.engine.raw_connection()
        except OperationalError as exc:
            raise _unavailable(exc) from None
        except self.engine.dialect.loaded_dbapi.Error as exc:
            wrapped = wrap_driver_error(exc, "CONNECT", (), self.engine.dialect)
            raise _unavailable(wrapped) from None  # type: ignore[arg-type]

    def health(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise Unavailable(f"Database unavailable: {type(exc).__name__}", "Cơ sở dữ liệu không sẵn sàng.",
                              code="database_unavailable") from None

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_revisions(self) -> tuple[str | None, str]:
        """(the database's Alembic revision, the newest this code knows)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        try:
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise Unavailable(f"Database unavailable: {type(exc).__name__}", "Cơ sở dữ liệu không sẵn sàng.",
                              code="database_unavailable") from None
        return current, head

    def dispose(self) -> None:
        self.engine.dispose()
