"""The audit log: append-only, hash-chained, with checkpoints signed by an HSM-held key.

Each event's ``hash`` = SHA-256(previous hash ‖ canonical JSON of (seq, ts, actor, action, target, details)).
``seq`` is assigned from the single ``audit_head`` row, which every appender locks first (row lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent nodes build one chain. Every
``CHECKPOINT_EVERY`` events the head hash is signed by the audit key in the HSM; ``verify`` checks the chain,
the head, and every checkpoint signature against the key in the HSM (not a copy in the database).

Events are appended inside the same transaction as the change they record: both commit or neither does.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ca.store.models import AuditCheckpoint, AuditEvent, AuditHead
from ca.store.prepared import Prepared, RawTransaction, insert_into
from ca.timeutil import Clock, utcnow

GENESIS = "0" * 64
CHECKPOINT_EVERY = 100
AUDIT_KEY_LABEL = "kyso-audit"


def _canonical(seq: int, ts: Any, actor: str, action: str, target: str | None, details: dict) -> bytes:
    body = {"seq": seq, "ts": ts.isoformat(), "actor": actor, "action": action, "target": target,
            "details": details}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(prev_hash: str, seq: int, ts: Any, actor: str, action: str, target: str | None,
               details: dict) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(seq, ts, actor, action, target, details)).hexdigest()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return event_hash(prev_hash, event.seq, event.ts, event.actor, event.action, event.target, event.details)


@dataclass(frozen=True, slots=True)
class Appended:
    """What ``append`` wrote: the event's position, time and hash."""
    seq: int
    ts: Any
    hash: str


_HEAD = AuditHead.__table__
_SELECT_HEAD = Prepared(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update())
_INSERT_HEAD = Prepared(insert(_HEAD).values(id=1, seq=0, hash=GENESIS))
_UPDATE_HEAD = Prepared(update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash")))
_INSERT_EVENT = insert_into(AuditEvent.__table__)
_INSERT_CHECKPOINT = insert_into(AuditCheckpoint.__table__, skip=("id",))

Db = Session | Connection | RawTransaction


def ensure_head(db: Db) -> None:
    tx = RawTransaction.of(db)
    if tx.one(_SELECT_HEAD) is None:
        tx.execute(_INSERT_HEAD).close()


def _head(tx: RawTransaction) -> tuple[int, str]:
    """The chain's tip, locked for this transaction (``FOR UPDATE`` on PostgreSQL; SQLite's write transactions
    are already exclusive). Read as columns, so a stale ``AuditHead`` object in a session never misleads."""
    row = tx.one(_SELECT_HEAD)
    if row is None:
        tx.execute(_INSERT_HEAD).close()
        return 0, GENESIS
    return row[0], row[1]


def append(db: Db, actor: str, action: str, target: str | None = None,
           details: dict | None = None, *, clock: Clock = utcnow, signer: Any = None) -> Appended:
    """Append one event in the transaction of ``db`` (an ORM Session, a Core Connection or a RawTransaction).
    ``signer``: the HSM audit key, for checkpoints. Returns what was written (seq, ts, hash).

    Written with prepared statements (ca/store/prepared.py), never the unit of work: issuance appends one event
    per certificate, and the ORM flush, then SQLAlchemy's execution machinery, were a third of its cost. The hash
    is computed from the values as stored (``details`` normalised through JSON first, as it reads back)."""
    tx = RawTransaction.of(db)
    last_seq, prev_hash = _head(tx)
    seq, ts, actor = last_seq + 1, clock(), actor or "anonymous"
    details = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    hash_ = event_hash(prev_hash, seq, ts, actor, action, target, details)
    tx.execute(_INSERT_EVENT, {"seq": seq, "ts": ts, "actor": actor, "action": action, "target": target,
                               "details": details, "prev_hash": prev_hash, "hash": hash_}).close()
    tx.execute(_UPDATE_HEAD, {"seq": seq, "hash": hash_}).close()
    if isinstance(db, Session):
        loaded = db.identity_map.get(db.identity_key(AuditHead, 1))
        if loaded is not None:  # keep an AuditHead object the caller holds in step with the row
            db.expire(loaded)
    if signer is not None and seq % CHECKPOINT_EVERY == 0:
        _checkpoint(tx, seq, hash_, signer, ts)
    return Appended(seq, ts, hash_)


def _checkpoint(tx: RawTransaction, seq: int, hash_: str, signer: Any, ts: Any) -> None:
    signature = signer.sign(f"kyso-audit:{seq}:{hash_}".encode(), ec.ECDSA(hashes.SHA256()))
    tx.execute(_INSERT_CHECKPOINT, {"seq": seq, "hash": hash_, "signature": signature, "key_label": signer.label,
                                    "created_at": ts}).close()


def checkpoint_now(session: Session, signer: Any, *, clock: Clock = utcnow) -> AuditCheckpoint | None:
    """Sign the current head (e.g. at shutdown or on a schedule)."""
    tx = RawTransaction.of(session)
    seq, hash_ = _head(tx)
    if seq == 0:
        return None
    existing = session.execute(select(AuditCheckpoint).where(AuditCheckpoint.seq == seq)).scalar_one_or_none()
    if existing:
        return existing
    _checkpoint(tx, seq, hash_, signer, clock())
    return session.execute(select(AuditCheckpoint).where(AuditCheckpoint.seq == seq)).scalar_one()


def recent_events(session: Session, *, limit: int = 100, before: int | None = None,
                  q: str | None = None) -> list[dict]:
    """Events newest first (at most 1,000), as JSON-ready dicts; ``before``: only rows with a smaller ``seq``;
    ``q``: only rows whose actor, action or target contains it."""
    from ca.timeutil import iso_utc

    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(max(1, min(limit, 1000)))
    if before:
        stmt = stmt.where(AuditEvent.seq < before)
    if q and q.strip():
        like = f"%{q.strip()[:100]}%"
        stmt = stmt.where(AuditEvent.actor.like(like) | AuditEvent.action.like(like) | AuditEvent.target.like(like))
    return [{"seq": e.seq, "time": iso_utc(e.ts), "actor": e.actor, "action": e.action, "target": e.target,
             "details": e.details, "hash": e.hash} for e in session.execute(stmt).scalars()]


@dataclass
class AuditReport:
    events: int = 0
    checkpoints: int = 0
    problems: list[tuple[int | None, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, public_key: Any = None) -> AuditReport:
    """Walk the whole chain. Names the first row of each break: edited, inserted, deleted."""
    report = AuditReport()
    prev_hash = GENESIS
    expected_seq = 1
    hashes_by_seq: dict[int, str] = {}
    for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().yield_per(1000):
        report.events += 1
        if event.seq != expected_seq:
            if event.seq > expected_seq:
                report.problems.append((expected_seq, f"rows {expected_seq}–{event.seq - 1} are missing (deleted)"))
            else:
                report.problems.append((event.seq, "row number out of order (inserted)"))
        if event.prev_hash != prev_hash:
            report.problems.append((event.seq, "the link to the previous row is broken (a row was inserted or deleted before it)"))
        recomputed = chain_hash(event.prev_hash, event)
        if recomputed != event.hash:
            report.problems.append((event.seq, "the row's content does not match its hash (edited)"))
        hashes_by_seq[event.seq] = event.hash
        prev_hash = event.hash
        expected_seq = event.seq + 1
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is not None:
        if head.seq > last_seq:
            report.problems.append((last_seq + 1, f"rows {last_seq + 1}–{head.seq} are missing at the end "
                                                  f"(deleted: the chain head says the log ends at row {head.seq})"))
        elif head.seq < last_seq:
            report.problems.append((head.seq + 1, f"rows {head.seq + 1}–{last_seq} lie beyond the chain head "
                                                  f"(row {head.seq}): added outside kyso (forged)"))
        elif head.hash != prev_hash:
            report.problems.append((last_seq, "the last row does not match the chain head (edited or replaced)"))
    for cp in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars():
        report.checkpoints += 1
        if hashes_by_seq.get(cp.seq) != cp.hash:
            report.problems.append((cp.seq, "a signed checkpoint does not match the row at that position"))
        if public_key is not None:
            try:
                public_key.verify(cp.signature, f"kyso-audit:{cp.seq}:{cp.hash}".encode(), ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                report.problems.append((cp.seq, "a checkpoint's HSM signature is invalid"))
    report.problems.sort(key=lambda p: (p[0] or 0))
    return report
