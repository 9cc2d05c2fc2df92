"""Revocation: revoke (RFC 5280 reasons, optional invalidity date), certificateHold and its release, the
status lookup other parts use, and the CRLs that follow every change.

A revocation is one write transaction: the ``revocations`` row (with its pre-encoded CRL entry), the
certificate's ``revoked`` flag and the audit event commit together, before anyone is answered. The CRL
counter's row is locked in that transaction, so ``changed_at_crl`` (the newest CRL number at the time of the
change) orders the change against concurrent CRL issuance: a delta CRL with base B lists every row with
``changed_at_crl >= B``. After the commit the full CRL and its delta are re-issued.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, text

from ca import counters, crl, crl_der
from ca.authority import normalise_serial
from ca.errors import Conflict, InvalidInput, NotFound, Unavailable
from ca.store.models import Certificate, Revocation
from ca.timeutil import iso_utc
from ca.store.models import UTCDateTime

log = logging.getLogger("kyso.revocation")

# reasons an operator may give (removeFromCRL is the delta CRL's business, aACompromise is for attribute certs)
REASONS = ("unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
           "cessationOfOperation", "certificateHold", "privilegeWithdrawn")
_VI_REASONS = {
    "unspecified": "không nêu lý do", "keyCompromise": "lộ khóa", "cACompromise": "CA bị lộ khóa",
    "affiliationChanged": "thay đổi đơn vị công tác", "superseded": "đã được thay thế",
    "cessationOfOperation": "ngừng hoạt động", "certificateHold": "tạm dừng",
    "privilegeWithdrawn": "bị thu hồi quyền",
}


def reason_vi(reason: str) -> str:
    return _VI_REASONS.get(reason, reason)


def _check_reason(reason: Any) -> str:
    if not isinstance(reason, str) or reason not in REASONS:
        raise InvalidInput(f"Unknown revocation reason {reason!r}; use one of {', '.join(REASONS)}",
                           f"Lý do thu hồi không hợp lệ {reason!r}; dùng một trong {', '.join(REASONS)}",
                           code="invalid_reason")
    return reason


def _check_invalidity(value: Any, now: dt.datetime) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"invalidity_date {value!r} is not an ISO 8601 date-time",
                               f"invalidity_date {value!r} không đúng định dạng ISO 8601",
                               code="invalid_invalidity_date") from None
    if not isinstance(value, dt.datetime):
        raise InvalidInput("invalidity_date must be an ISO 8601 date-time", "invalidity_date phải là ngày giờ ISO 8601",
                           code="invalid_invalidity_date")
    if value.tzinfo is None:
        raise InvalidInput("invalidity_date needs a time zone (e.g. +07:00 or Z)",
                           "invalidity_date cần múi giờ (ví dụ +07:00 hoặc Z)", code="invalid_invalidity_date")
    value = value.astimezone(dt.timezone.utc).replace(microsecond=0)
    if value > now:
        raise InvalidInput("invalidity_date lies in the future", "invalidity_date ở tương lai",
                           code="invalid_invalidity_date")
    return value


def _issuer_role(authority: Any, issuer_id: int | None) -> str | None:
    for role in ("issuing", "root"):
        if authority.ca_id(role) == issuer_id:
            return role
    return None


def _find(s: Any, serial: str) -> Certificate:
    row = s.execute(select(Certificate).where(Certificate.serial == serial)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No certificate with serial {serial}", f"Không có chứng thư số hiệu {serial}",
                       code="certificate_not_found")
    return row


def revoke(authority: Any, serial_hex: str, reason: str, *, invalidity_date: Any = None, actor: str,
           publish: bool = True) -> dict:
    """Revoke a certificate issued here. A held certificate (certificateHold) may be revoked for good with
    another reason; anything else already revoked is a conflict. ``publish=False`` (batch revocations) leaves
    the CRLs to the caller's ``crl.publish_all`` (or to the next request: serving re-issues when stale)."""
    serial = normalise_serial(serial_hex)
    reason = _check_reason(reason)
    now = authority.clock().replace(microsecond=0)
    invalidity = _check_invalidity(invalidity_date, now)
    with authority.store.read() as s:
        cert = _find(s, serial)
        issuer_id = cert.issuer_id
    role = _issuer_role(authority, issuer_id)
    if role is None:
        raise Conflict("This certificate cannot be revoked here (the root is trusted directly; remove it instead)",
                       "Không thể thu hồi chứng thư này tại đây (chứng thư gốc được tin cậy trực tiếp)",
                       code="not_revocable")
    counter = crl.ensure_counter(authority, role)
    with authority.store.write() as s:
        current_number = counters.lock(s, counter).value
        cert = _find(s, serial)
        rev = s.execute(select(Revocation).where(Revocation.certificate_id == cert.id)).scalar_one_or_none()
        if rev is not None and not rev.released:
            if rev.reason != "certificateHold" or reason == "certificateHold":
                raise Conflict(f"Certificate {serial} is already revoked ({rev.reason}, {iso_utc(rev.revoked_at)})",
                               f"Chứng thư {serial} đã bị thu hồi ({reason_vi(rev.reason)}, {iso_utc(rev.revoked_at)})",
                               code="already_revoked")
            # a hold made final: RFC 5280 §5.3.1 keeps the original revocation date
            revoked_at, previous = rev.revoked_at, rev.reason
        else:
            revoked_at, previous = now, None
        entry = crl_der.encode_entry(int(serial, 16), revoked_at, reason, invalidity)
        if rev is None:
            rev = Revocation(certificate_id=cert.id, issuer_id=issuer_id, serial=serial, revoked_at=revoked_at,
                             reason=reason, invalidity_date=invalidity, changed_at_crl=current_number,
                             released=False, updated_at=now, entry_der=entry)
            s.add(rev)
        else:
            rev.revoked_at, rev.reason, rev.invalidity_date = revoked_at, reason, invalidity
            rev.changed_at_crl, rev.released, rev.updated_at, rev.entry_der = current_number, False, now, entry
        cert.revoked = True
        details = {"reason": reason, "invalidity_date": iso_utc(invalidity)}
        if previous:
            details["previous_reason"] = previous
        authority.record(s, actor, "cert.revoke", serial, details)
    out = {"status": "revoked", "serial": serial, "revoked_at": iso_utc(revoked_at), "reason": reason,
           "invalidity_date": iso_utc(invalidity)}
    out["crl_number"] = _reissue(authority, role) if publish else None
    return out


def release_hold(authority: Any, serial_hex: str, *, actor: str, publish: bool = True) -> dict:
    """Lift a certificateHold: the certificate is valid again; the next delta CRL says removeFromCRL."""
    serial = normalise_serial(serial_hex)
    with authority.store.read() as s:
        issuer_id = _find(s, serial).issuer_id
    role = _issuer_role(authority, issuer_id)
    if role is None:
        raise Conflict("This certificate is not on hold", "Chứng thư này không ở trạng thái tạm dừng",
                       code="not_on_hold")
    counter = crl.ensure_counter(authority, role)
    now = authority.clock().replace(microsecond=0)
    with authority.store.write() as s:
        current_number = counters.lock(s, counter).value
        cert = _find(s, serial)
        rev = s.execute(select(Revocation).where(Revocation.certificate_id == cert.id)).scalar_one_or_none()
        if rev is None or rev.released or rev.reason != "certificateHold":
            raise Conflict(f"Certificate {serial} is not on hold (certificateHold)",
                           f"Chứng thư {serial} không ở trạng thái tạm dừng (certificateHold)", code="not_on_hold")
        rev.released, rev.changed_at_crl, rev.updated_at = True, current_number, now
        cert.revoked = False
        authority.record(s, actor, "cert.release_hold", serial, {"held_since": iso_utc(rev.revoked_at)})
    return {"status": "valid", "serial": serial, "released_at": iso_utc(now), "crl_number": _reissue(authority, role) if publish else None}


def _reissue(authority: Any, role: str) -> int | None:
    """The CRLs after a change. The change is committed already: a failure here is logged, and the CRL is
    re-issued lazily on the next request for it."""
    try:
        full = crl.issue(authority, role)
        if role == "issuing":
            crl.issue(authority, role, delta=True)
        return full.number
    except Exception:  # noqa: BLE001 - the revocation stands; serving re-issues
        log.exception("re-issuing the %s CRL after a change failed", role)
        return None


_STATUS_SQL = text(
    "SELECT c.revoked AS revoked, r.revoked_at AS revoked_at, r.reason AS reason, r.released AS released "
    "FROM certificates c LEFT JOIN revocations r ON r.certificate_id = c.id "
    "WHERE c.serial = :serial AND c.issuer_id = :issuer").columns(revoked_at=UTCDateTime)


def status(authority: Any, cert_serial_int: int, issuer_role: str = "issuing"
           ) -> tuple[str, dt.datetime | None, str | None]:
    """("good"|"revoked"|"unknown", revoked_at or None, reason or None) for a certificate issued by the CA
    ``issuer_role``: one indexed lookup, no CRL parsing."""
    issuer_id = authority.ca_id(issuer_role)
    with authority.store.read() as s:
        row = s.execute(_STATUS_SQL, {"serial": format(cert_serial_int, "x"), "issuer": issuer_id}).first()
    return _status_of(row)


def _status_of(row: Any) -> tuple[str, dt.datetime | None, str | None]:
    if row is None:
        return "unknown", None, None
    if row.reason is not None and not row.released:
        return "revoked", row.revoked_at, row.reason
    return "good", None, None


def status_many(authority: Any, serials: list[int], issuer_role: str = "issuing"
                ) -> dict[int, tuple[str, dt.datetime | None, str | None]]:
    """``status`` for several serials of one issuer in one query (the OCSP responder's hot path: a pooled
    driver connection and one indexed query, without ORM objects)."""
    if not serials:
        return {}
    issuer_id = authority.ca_id(issuer_role)
    hexes = {format(n, "x"): n for n in serials}
    store = authority.store
    mark = "?" if store.is_sqlite else "%s"
    sql = ("SELECT c.serial, r.revoked_at, r.reason, r.released FROM certificates c "
           "LEFT JOIN revocations r ON r.certificate_id = c.id "
           f"WHERE c.issuer_id = {mark} AND c.serial IN ({', '.join([mark] * len(hexes))})")
    out = {n: ("unknown", None, None) for n in serials}
    try:
        conn = store.engine.raw_connection()
    except Exception as exc:  # noqa: BLE001 - the caller answers tryLater
        raise Unavailable(f"Database unavailable: {type(exc).__name__}", "Cơ sở dữ liệu không sẵn sàng.",
                          code="database_unavailable") from None
    try:
        cur = conn.cursor()
        cur.execute(sql, (issuer_id, *hexes))
        rows = cur.fetchall()
        cur.close()
        if not store.is_sqlite:
            conn.rollback()
    finally:
        conn.close()
    for serial, revoked_at, reason, released in rows:
        if reason is not None and not released:
            out[hexes[serial]] = ("revoked", _aware(revoked_at), reason)
        else:
            out[hexes[serial]] = ("good", None, None)
    return out


def _aware(value: Any) -> dt.datetime:
    """A timestamp from the driver: SQLite hands back the stored text, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def current_crl(authority: Any, role: str = "issuing", delta: bool = False) -> bytes:
    """The DER of the current CRL (``role`` "issuing" or "root"; ``delta`` for the issuing CA's delta CRL),
    re-issued first when missing or near its nextUpdate."""
    return crl.current(authority, role, delta).der


def after_init(instance: Any) -> None:
    """Right after ``kyso init``: the first full CRL, delta CRL and ARL."""
    crl.publish_all(instance.authority)
