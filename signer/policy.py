"""Who may sign with which certificate, and signing activation.

* An **official** signs only with a certificate of profile ``official`` whose owner is that official.
* A **clerk** signs only with an **agency seal** certificate (profile ``agency``) owned by a clerk of the same
  organisation (``User.org``, compared exactly) — the clerk themself or a colleague. The admin issues the seal
  with ``owner`` = one of the agency's clerks; every clerk of that agency may then apply it.
* Nobody else signs (admins and auditors are refused).
* The certificate must be valid at that moment: not before ``not_before``, not after ``not_after``, and not
  revoked (``ca.revocation.status``, the CA's own revocation table, and the certificate row's flag).
* One-step signing uses certificates whose key lives in kyso's HSM; two-step signing uses certificates whose key
  is held outside (the official's USB token), registered by the CA from a CSR with the official as owner.
* Activation: with ``KYSO_SIGNING_ACTIVATION=totp`` (the default) each request or batch carries the user's current
  TOTP code, each code usable once (``ca.users.verify_totp``); ``none`` turns it off.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.authority import normalise_serial
from ca.errors import Unauthorized
from ca.store.models import Certificate, User
from ca.users import verify_totp
from signer import errors

SIGNING_ROLES = {"official": "official", "clerk": "agency"}  # role -> certificate profile


@dataclass(frozen=True)
class Identity:
    """The signer and the certificate they sign with (detached from the database session)."""

    user_id: int
    username: str
    role: str
    full_name: str | None
    org: str | None
    signature_image: bytes | None
    seal_image: bytes | None
    certificate_id: int
    serial: str
    subject: dict
    key_label: str | None
    der: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


def _active(user: Any) -> Any:
    if user is None or not user.active:
        raise Unauthorized("Unknown or disabled user", "Người dùng không tồn tại hoặc đã bị khóa", code="unknown_user")
    return user


def load_user(session: Session, username: str) -> User:
    """The active user ``username`` as an ORM object (to change it: activation, images)."""
    return _active(session.execute(select(User).where(User.username == username)).scalar_one_or_none())


# what signing reads of a user and of a certificate: plain rows, no ORM objects (the signing hot path)
_SIGNER_COLUMNS = (User.id, User.username, User.role, User.full_name, User.org, User.signature_image,
                   User.seal_image, User.active)
_CERT_COLUMNS = (Certificate.id, Certificate.serial, Certificate.not_before, Certificate.not_after,
                 Certificate.revoked, Certificate.key_label, Certificate.der, Certificate.subject)


def load_signer(session: Session, username: str) -> Any:
    """The active user ``username`` as a read-only row with what :func:`resolve` needs."""
    return _active(session.execute(select(*_SIGNER_COLUMNS).where(User.username == username)).first())


def _allowed_rows(session: Session, user: Any, *, hsm: bool) -> list[Any]:
    profile = SIGNING_ROLES.get(user.role)
    if profile is None:
        raise errors.SignerNotAllowed(f"The role {user.role!r} may not sign documents (officials and clerks sign)",
                                      f"Vai trò {user.role!r} không được ký tài liệu (chỉ cán bộ và văn thư)")
    stmt = select(*_CERT_COLUMNS).where(Certificate.profile == profile, Certificate.role == "end-entity")
    stmt = stmt.where(Certificate.key_label.is_not(None) if hsm else Certificate.key_label.is_(None))
    if user.role == "official":
        stmt = stmt.where(Certificate.owner_id == user.id)
    else:
        colleagues = select(User.id).where(User.role == "clerk", User.org == user.org)
        if user.org is None:
            colleagues = select(User.id).where(User.id == user.id)
        stmt = stmt.where(Certificate.owner_id.in_(colleagues))
    return list(session.execute(stmt.order_by(Certificate.not_before.desc(), Certificate.id.desc())).all())


def _revoked_serials(authority: Any, rows: list[Any]) -> set[str]:
    """Serials among ``rows`` revoked now: the certificate row's flag, or the CA's revocation table (one query
    for all of them, ``ca.revocation.status_many``)."""
    out = {r.serial for r in rows if r.revoked}
    candidates = [r.serial for r in rows if not r.revoked]
    if not candidates:
        return out
    try:
        from ca import revocation
    except ImportError:  # pragma: no cover - a build without the revocation service
        return out
    states = revocation.status_many(authority, [int(s, 16) for s in candidates])
    return out | {s for s in candidates if states[int(s, 16)][0] == "revoked"}


def _problem(revoked: set[str], row: Any, now: dt.datetime) -> errors.KysoError | None:
    if row.serial in revoked:
        return errors.CertificateRevoked()
    if not row.not_before <= now <= row.not_after:
        return errors.CertificateExpired()
    return None


def resolve(session: Session, authority: Any, user: Any, now: dt.datetime, *, serial: str | None = None,
            hsm: bool = True) -> Identity:
    """The certificate ``user`` (a :class:`User` or a :func:`load_signer` row) signs with now (the newest valid
    one, or ``serial`` if given), checked against the revocation data of this moment."""
    rows = _allowed_rows(session, user, hsm=hsm)
    if serial:
        wanted = normalise_serial(serial)
        rows = [r for r in rows if r.serial == wanted]
        if not rows:
            raise errors.SignerNotAllowed(
                f"Certificate {wanted} is not one you may sign with",
                f"Bạn không được ký bằng chứng thư {wanted}")
    if not rows:
        what = "an official's certificate" if user.role == "official" else "an agency seal certificate"
        raise errors.NoSigningCertificate(
            f"No {what} {'in the HSM ' if hsm else 'registered for an external key '}is available to {user.username}",
            "Không có chứng thư số phù hợp để ký" + ("" if hsm else " bằng khóa bên ngoài"))
    first_problem = None
    revoked = _revoked_serials(authority, rows)
    for row in rows:
        problem = _problem(revoked, row, now)
        if problem is None:
            return Identity(user_id=user.id, username=user.username, role=user.role, full_name=user.full_name,
                            org=user.org, signature_image=user.signature_image, seal_image=user.seal_image,
                            certificate_id=row.id, serial=row.serial, subject=dict(row.subject or {}),
                            key_label=row.key_label, der=row.der)
        first_problem = first_problem or problem
    raise first_problem


def activate(session: Session, settings: Any, user: User, otp: Any, clock: Any) -> None:
    """Signing activation for one request or batch (TOTP, replay-protected), unless turned off."""
    if settings.signing_activation == "none":
        return
    verify_totp(session, user, otp, clock=clock)
