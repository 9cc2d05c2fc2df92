"""Prepared statements for the hot paths: SQLAlchemy Core statements, compiled once per dialect, run on the
DBAPI cursor.

Why: SQLAlchemy's per-execution machinery (compiled-cache lookup, execution context, events, result proxy) and
its transaction objects cost 20–60 µs per statement; an issuance runs five statements and its API call one token
check, and with an EC issuing key that machinery was a third of the CPU of a certificate (docs/performance.md).
What stays SQLAlchemy's: the SQL text (compiled for the engine's dialect, so the same statement runs on SQLite and
PostgreSQL) and the parameters, which pass through each column type's bind processor (JSON, UTC datetimes,
booleans) exactly as ``Connection.execute`` would pass them. Only the execution step is direct.

Limits, checked when a statement is first compiled: result columns must need no result processing (plain
integers, strings, bytes); statements that read datetimes or JSON back go through ``Connection.execute``.

Errors are raised as SQLAlchemy's ``IntegrityError`` / ``OperationalError`` (wrapping the driver's), so callers
catch the same exceptions on both paths.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import bindparam, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session


class Prepared:
    """A Core statement and its compiled forms, one per dialect."""

    __slots__ = ("stmt", "_by_dialect")

    def __init__(self, stmt: Any):
        self.stmt = stmt
        self._by_dialect: dict[tuple[str, str], tuple[str, tuple[str, ...] | None, tuple, dict]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, tuple, dict]:
        key = (dialect.name, dialect.driver)
        entry = self._by_dialect.get(key)
        if entry is None:
            compiled = self.stmt.compile(dialect=dialect)
            for type_ in _result_types(self.stmt):
                if type_.dialect_impl(dialect).result_processor(dialect, None) is not None:
                    raise TypeError(f"{type_!r} needs result processing; run this statement with Connection.execute")
            processors = tuple((name, proc) for name, bind in compiled.binds.items()
                               if (proc := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None)
            names = tuple(compiled.positiontup) if compiled.positional else None
            # literal values in the statement (``id == 1``) are bound parameters with a value of their own
            defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
            entry = (str(compiled), names, processors, defaults)
            self._by_dialect[key] = entry
        return entry

    def arguments(self, dialect: Dialect, values: dict[str, Any]) -> tuple[str, Any]:
        sql, names, processors, defaults = self.compiled(dialect)
        if processors or defaults:
            values = {**defaults, **values}
            for name, proc in processors:
                if name in values:
                    values[name] = proc(values[name])
        return sql, (tuple(values[n] for n in names) if names is not None else values)


def insert_into(table: Any, *, skip: tuple[str, ...] = (), returning: Any = None) -> Prepared:
    """``INSERT INTO table (every column but skip) VALUES (:column, …) [RETURNING returning]``."""
    stmt = insert(table).values({c: bindparam(c.key, type_=c.type) for c in table.c if c.key not in skip})
    return Prepared(stmt.returning(returning) if returning is not None else stmt)


def _result_types(stmt: Any) -> Iterable[Any]:
    columns = getattr(stmt, "selected_columns", None)
    if columns is not None:
        return [c.type for c in columns]
    return [d["type"] for d in getattr(stmt, "returning_column_descriptions", None) or []]


class RawTransaction:
    """Statements on a DBAPI connection inside a transaction somebody else opened and will end: a
    ``Store.raw_write()`` block, or the transaction of a Core ``Connection`` / ORM ``Session`` (``of``)."""

    __slots__ = ("dbapi_connection", "dialect")

    def __init__(self, dbapi_connection: Any, dialect: Dialect):
        self.dbapi_connection = dbapi_connection
        self.dialect = dialect

    @classmethod
    def of(cls, db: "Session | Connection | RawTransaction") -> "RawTransaction":
        """The raw side of ``db``'s transaction. A Session is flushed first, so pending ORM objects of the caller
        (rows a statement may refer to) are written before it."""
        if isinstance(db, RawTransaction):
            return db
        if isinstance(db, Session):
            db.flush()
            db = db.connection()
        return cls(db.connection.dbapi_connection, db.dialect)

    def execute(self, prepared: Prepared, values: dict[str, Any] | None = None) -> Any:
        """Run ``prepared``; returns the DBAPI cursor (``fetchone()`` for a SELECT or RETURNING)."""
        sql, args = prepared.arguments(self.dialect, values or {})
        cursor = self.dbapi_connection.cursor()
        try:
            cursor.execute(sql, args)
        except Exception as exc:  # noqa: BLE001 - the driver's errors, re-raised as SQLAlchemy's
            cursor.close()
            raise wrap_driver_error(exc, sql, args, self.dialect) from exc
        return cursor

    def begin_immediate(self) -> None:
        """SQLite: open the write transaction now (``BEGIN IMMEDIATE``), waiting for the write lock here rather
        than failing on the first write."""
        try:
            self.dbapi_connection.execute("BEGIN IMMEDIATE")
        except Exception as exc:  # noqa: BLE001
            raise wrap_driver_error(exc, "BEGIN IMMEDIATE", (), self.dialect) from exc

    def commit(self) -> None:
        try:
            self.dbapi_connection.commit()
        except Exception as exc:  # noqa: BLE001
            raise wrap_driver_error(exc, "COMMIT", (), self.dialect) from exc

    def one(self, prepared: Prepared, values: dict[str, Any] | None = None) -> tuple | None:
        cursor = self.execute(prepared, values)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()


def wrap_driver_error(exc: Exception, sql: str, args: Any, dialect: Dialect) -> Exception:
    dbapi = dialect.loaded_dbapi
    if isinstance(exc, dbapi.IntegrityError):
        return sa_exc.IntegrityError(sql, args, exc)
    if isinstance(exc, (dbapi.OperationalError, dbapi.InterfaceError)):
        return sa_exc.OperationalError(sql, args, exc)
    if isinstance(exc, dbapi.Error):
        return sa_exc.DBAPIError(sql, args, exc)
    return exc
