"""Monotonic counters shared by every node (the ``counters`` table): CRL numbers.

The pattern works on SQLite and PostgreSQL alike: inside a write transaction, lock the counter's row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the database's write lock),
read it, and write the new value in the same transaction. Two nodes therefore never hand out the same value,
and a value never goes down, across restarts too. A counter row is created once, in its own transaction, and
a concurrent creator's duplicate key is ignored.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.store import Store
from ca.store.models import Counter


def ensure(store: Store, name: str, start: int = 0) -> None:
    """Create counter ``name`` at ``start`` unless it exists (safe when several nodes race)."""
    with store.read() as s:
        if s.get(Counter, name) is not None:
            return
    try:
        with store.write() as s:
            if s.get(Counter, name) is None:
                s.add(Counter(name=name, value=start))
    except IntegrityError:
        pass  # another node created it first


def lock(session: Session, name: str) -> Counter:
    """The counter's row, locked until ``session``'s transaction ends."""
    row = session.execute(select(Counter).where(Counter.name == name).with_for_update()).scalar_one_or_none()
    if row is None:
        raise LookupError(f"counter {name!r} does not exist (call counters.ensure first)")
    return row


def next_value(session: Session, name: str) -> int:
    """Increment and return the counter, inside ``session``'s (write) transaction."""
    row = lock(session, name)
    row.value = row.value + 1
    session.flush()
    return row.value
