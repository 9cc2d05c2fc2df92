"""Issuing, storing, caching and publishing CRLs: the full CRL of the issuing CA, its delta CRLs, and the
root's ARL.

* Numbers: one strictly increasing sequence per issuer, shared by full and delta CRLs (RFC 5280 §5.2.3),
  drawn from the ``counters`` row ``crl:<issuer id>`` under a row lock, so several nodes never reuse one.
* A full CRL lists every revocation of the issuer that is not a released hold; a delta CRL lists the rows
  changed since its base (the newest full CRL): revocations, and released holds as ``removeFromCRL``.
* Every CRL is stored (``crls``; old ones pruned), written atomically to ``$KYSO_HOME/crl/<name>.crl`` and
  cached per process on the authority. ``current`` re-issues lazily when none exists or the newest is near
  its nextUpdate (the last quarter of its validity).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ca import counters, crl_der
from ca.errors import NotFound
from ca.store.models import Crl

log = logging.getLogger("kyso.crl")

KEEP = 3  # stored CRLs kept per issuer and kind (older rows are pruned)
FILE_NAMES = {("issuing", False): "issuing.crl", ("issuing", True): "issuing-delta.crl", ("root", False): "root.crl"}


@dataclass(frozen=True)
class PublishedCrl:
    role: str
    delta: bool
    number: int
    delta_base: int | None
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int
    der: bytes

    @property
    def etag(self) -> str:
        return f'"crl-{self.role}-{"delta-" if self.delta else ""}{self.number}"'

    @property
    def file_name(self) -> str:
        return FILE_NAMES[(self.role, self.delta)]


def counter_name(issuer_id: int) -> str:
    return f"crl:{issuer_id}"


def _check_kind(role: str, delta: bool) -> None:
    if (role, delta) not in FILE_NAMES:
        raise NotFound(f"No {'delta ' if delta else ''}CRL for the {role!r} CA",
                       f"Không có {'CRL delta' if delta else 'CRL'} cho CA {role!r}", code="crl_not_found")


def _cache(authority: Any) -> dict:
    cache = getattr(authority, "_kyso_crl_cache", None)
    if cache is None:
        cache = {}
        authority._kyso_crl_cache = cache
    return cache


def _latest_row(s: Session, issuer_id: int, delta: bool, *, with_der: bool) -> Any:
    cols = [Crl.id, Crl.number, Crl.delta_base, Crl.this_update, Crl.next_update, Crl.entries]
    if with_der:
        cols.append(Crl.der)
    kind = Crl.delta_base.is_not(None) if delta else Crl.delta_base.is_(None)
    return s.execute(select(*cols).where(Crl.issuer_id == issuer_id, kind).order_by(Crl.number.desc()).limit(1)
                     ).first()


def _stale(row: Any, now: dt.datetime) -> bool:
    if row is None:
        return True
    validity = row.next_update - row.this_update
    return now >= row.next_update - validity / 4


def ensure_counter(authority: Any, role: str) -> str:
    issuer_id = authority.ca_id(role)
    name = counter_name(issuer_id)
    with authority.store.read() as s:
        start = s.execute(select(Crl.number).where(Crl.issuer_id == issuer_id).order_by(Crl.number.desc()).limit(1)
                          ).scalar_one_or_none() or 0
    counters.ensure(authority.store, name, start)
    return name


def _full_entries(s: Session, issuer_id: int, is_sqlite: bool) -> tuple[bytes, int]:
    """(the concatenated pre-encoded entries of the issuer's current revocations, how many), read straight from
    the driver's cursor: a million rows through SQLAlchemy's result objects cost more than signing the CRL."""
    from operator import itemgetter

    mark = "?" if is_sqlite else "%s"
    cursor = s.connection().connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"SELECT entry_der FROM revocations WHERE issuer_id = {mark} AND released = {mark} "
                       "AND entry_der IS NOT NULL", (issuer_id, False))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    blob = b"".join(map(itemgetter(0), rows))
    count = len(rows)
    del rows
    # rows written before entries were pre-encoded (none unless imported): encoded here
    legacy = [_encode_row(r) for r in s.execute(text(
        "SELECT serial, revoked_at, reason, invalidity_date, released, entry_der FROM revocations "
        "WHERE issuer_id = :i AND released = :f AND entry_der IS NULL"), {"i": issuer_id, "f": False}).mappings()]
    if legacy:
        blob += b"".join(legacy)
    return blob, count + len(legacy)


def _delta_entries(s: Session, issuer_id: int, base: int) -> list[bytes]:
    from ca.store.models import Revocation

    rows = s.execute(select(Revocation.serial, Revocation.revoked_at, Revocation.reason, Revocation.invalidity_date,
                            Revocation.released, Revocation.entry_der)
                     .where(Revocation.issuer_id == issuer_id, Revocation.changed_at_crl >= base)).mappings()
    return [_encode_row(r) for r in rows]


def _encode_row(r: Any) -> bytes:
    if r["released"]:
        return crl_der.encode_entry(int(r["serial"], 16), r["revoked_at"], "removeFromCRL")
    if r["entry_der"] is not None:
        return bytes(r["entry_der"])
    revoked_at = r["revoked_at"]
    if isinstance(revoked_at, str):
        revoked_at = dt.datetime.fromisoformat(revoked_at)
    if revoked_at.tzinfo is None:
        revoked_at = revoked_at.replace(tzinfo=dt.timezone.utc)
    inv = r["invalidity_date"]
    if isinstance(inv, str):
        inv = dt.datetime.fromisoformat(inv)
    if inv is not None and inv.tzinfo is None:
        inv = inv.replace(tzinfo=dt.timezone.utc)
    return crl_der.encode_entry(int(r["serial"], 16), revoked_at, r["reason"], inv)


def issue(authority: Any, role: str = "issuing", *, delta: bool = False, only_if_stale: bool = False) -> PublishedCrl:
    """Issue (sign, store, write to disk) a new CRL for ``role``. ``only_if_stale``: keep the newest one if
    another worker or node made a fresh one meanwhile (checked under the counter's lock)."""
    _check_kind(role, delta)
    settings = authority.settings
    issuer_id = authority.ca_id(role)
    cert = authority.ca_cert(role)
    key = authority.ca_key(role)
    name = ensure_counter(authority, role)
    if delta:
        with authority.store.read() as s:
            has_base = _latest_row(s, issuer_id, False, with_der=False) is not None
        if not has_base:
            issue(authority, role, delta=False)
    with authority.store.write() as s:
        counter = counters.lock(s, name)
        now = authority.clock().replace(microsecond=0)
        if only_if_stale:
            row = _usable(s, issuer_id, delta, now)
            if row is not None:
                der_bytes = s.execute(select(Crl.der).where(Crl.id == row.id)).scalar_one()
                return _remember(authority, _from_row(role, delta, row, der_bytes))
        if delta:
            base = _latest_row(s, issuer_id, False, with_der=False).number
            entries = _delta_entries(s, issuer_id, base)
            count = len(entries)
            validity = dt.timedelta(hours=settings.delta_crl_validity_hours)
        else:
            base = None
            entries, count = _full_entries(s, issuer_id, authority.store.is_sqlite)
            validity = dt.timedelta(hours=settings.crl_validity_hours)
        counter.value += 1
        number = counter.value
        base_url = settings.base_url
        der_bytes = crl_der.build(
            issuer_cert=cert, key=key, number=number, this_update=now, next_update=now + validity,
            entries=entries,
            idp_url=f"{base_url}/pki/{FILE_NAMES[(role, False)]}" if role == "issuing" else None,
            only_ca_certs=(role == "root"), delta_base=base,
            freshest_url=f"{base_url}/pki/{FILE_NAMES[(role, True)]}" if (role, True) in FILE_NAMES else None)
        s.add(Crl(issuer_id=issuer_id, number=number, delta_base=base, this_update=now, next_update=now + validity,
                  entries=count, der=der_bytes))
        s.flush()
        _prune(s, issuer_id, delta)
        published = PublishedCrl(role, delta, number, base, now, now + validity, count, der_bytes)
    _write_file(settings.crl_dir, published)
    log.info("CRL %s #%d issued (%d entries)", published.file_name, number, count)
    return _remember(authority, published)


def _prune(s: Session, issuer_id: int, delta: bool) -> None:
    kind = Crl.delta_base.is_not(None) if delta else Crl.delta_base.is_(None)
    keep = s.execute(select(Crl.number).where(Crl.issuer_id == issuer_id, kind).order_by(Crl.number.desc())
                     .limit(KEEP)).scalars().all()
    if len(keep) == KEEP:
        from sqlalchemy import delete

        s.execute(delete(Crl).where(Crl.issuer_id == issuer_id, kind, Crl.number < keep[-1]))


def _from_row(role: str, delta: bool, row: Any, der_bytes: bytes) -> PublishedCrl:
    return PublishedCrl(role, delta, row.number, row.delta_base, row.this_update, row.next_update, row.entries,
                        bytes(der_bytes))


def _remember(authority: Any, published: PublishedCrl) -> PublishedCrl:
    cache = _cache(authority)
    old = cache.get((published.role, published.delta))
    if old is None or old.number <= published.number:
        cache[(published.role, published.delta)] = published
    return published


def _write_file(directory: Path, published: PublishedCrl) -> None:
    """Atomically replace ``<dir>/<name>.crl``, never with an older CRL than the one there (a slower concurrent
    writer): the number of the file's CRL is kept beside it, and writers take turns on a lock file."""
    import fcntl

    try:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / published.file_name
        with open(directory / f".{published.file_name}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            number_file = directory / f".{published.file_name}.number"
            try:
                existing = int(number_file.read_text())
            except (OSError, ValueError):
                existing = None
            if existing is not None and existing > published.number and target.exists():
                return
            tmp = directory / f".{published.file_name}.{os.getpid()}.tmp"
            tmp.write_bytes(published.der)
            os.replace(tmp, target)
            number_file.write_text(str(published.number))
    except OSError as exc:  # the database copy is the truth; the file is a convenience for mirrors
        log.warning("could not write %s: %s", published.file_name, exc)


def _usable(s: Session, issuer_id: int, delta: bool, now: dt.datetime) -> Any:
    """The newest CRL of this kind if it can still be served (not near nextUpdate; a delta built on the newest
    full CRL), else None."""
    row = _latest_row(s, issuer_id, delta, with_der=False)
    if row is None or _stale(row, now):
        return None
    if delta:
        full = _latest_row(s, issuer_id, False, with_der=False)
        if full is None or (row.delta_base or 0) < full.number:
            return None
    return row


def current(authority: Any, role: str = "issuing", delta: bool = False) -> PublishedCrl:
    """The newest CRL of this kind, re-issued first when missing or near its nextUpdate. One or two light
    queries per call; the DER comes from this process's cache unless another worker issued a newer one."""
    _check_kind(role, delta)
    issuer_id = authority.ca_id(role)
    now = authority.clock()
    with authority.store.read() as s:
        row = _usable(s, issuer_id, delta, now)
        if row is not None:
            cached = _cache(authority).get((role, delta))
            if cached is not None and cached.number == row.number:
                return cached
            der_bytes = s.execute(select(Crl.der).where(Crl.id == row.id)).scalar_one()
            return _remember(authority, _from_row(role, delta, row, der_bytes))
    return issue(authority, role, delta=delta, only_if_stale=True)


def publish_all(authority: Any) -> list[PublishedCrl]:
    """A fresh full CRL, its delta, and the root's ARL (``kyso crl publish``, after init, on revocation)."""
    return [issue(authority, "issuing"), issue(authority, "issuing", delta=True), issue(authority, "root")]
