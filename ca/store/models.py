"""SQLAlchemy 2 models. Portable SQL only (SQLite and PostgreSQL); times are timezone-aware UTC.

Schema changes go through Alembic (``ca/store/migrations``); never ``create_all`` in production paths.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stores UTC; always hands back aware datetimes (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    full_name: Mapped[str | None] = mapped_column(String(200))
    org: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # admin|official|clerk|auditor
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # replay protection
    signature_image: Mapped[bytes | None] = mapped_column(LargeBinary)  # PNG, handwritten signature
    seal_image: Mapped[bytes | None] = mapped_column(LargeBinary)  # PNG, agency seal (clerks)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # after repeated failed logins
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)  # shown to people, not secret
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    user: Mapped[User] = relationship(back_populates="tokens")


class Certificate(Base):
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)  # lowercase hex
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))  # None for the root
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # root|issuing|ocsp|tsa|end-entity
    profile: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_cn: Mapped[str] = mapped_column(String(200), nullable=False)
    subject: Mapped[dict] = mapped_column(JSON, nullable=False)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # sha256 hex
    key_label: Mapped[str | None] = mapped_column(String(128))  # HSM label when the key lives in kyso's HSM
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # denormalised status for listing; the truth for revocation is the revocations table
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    revocation: Mapped["Revocation | None"] = relationship(back_populates="certificate", uselist=False,
                                                         foreign_keys="Revocation.certificate_id")

    __table_args__ = (Index("ix_certificates_owner", "owner_id"), Index("ix_certificates_role", "role"),
                      Index("ix_certificates_issuer", "issuer_id"))


class Revocation(Base):
    __tablename__ = "revocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), unique=True, nullable=False)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), nullable=False)
    serial: Mapped[str] = mapped_column(String(40), nullable=False)  # copy, for CRL building without joins
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the CRL number in force when this row last changed: delta CRLs list rows changed after their base
    changed_at_crl: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    released: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # certificateHold lifted
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # the pre-encoded DER of this row's CRL entry (serial, date, reason, invalidity): CRLs are concatenations
    entry_der: Mapped[bytes | None] = mapped_column(LargeBinary)

    certificate: Mapped[Certificate] = relationship(back_populates="revocation", foreign_keys=[certificate_id])

    __table_args__ = (Index("ix_revocations_issuer", "issuer_id", "changed_at_crl"),)


class Crl(Base):
    __tablename__ = "crls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), nullable=False)
    number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    delta_base: Mapped[int | None] = mapped_column(BigInteger)  # set for delta CRLs
    this_update: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    entries: Mapped[int] = mapped_column(Integer, nullable=False)
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)

    # CRL numbers are unique per issuer across full and delta CRLs (RFC 5280 §5.2.3: one sequence)
    __table_args__ = (UniqueConstraint("issuer_id", "number", name="uq_crl_issuer_number"),)


class Counter(Base):
    """Monotonic counters shared by every node (CRL numbers, TSA serials): row-locked increments."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class HsmKey(Base):
    __tablename__ = "hsm_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)  # root|issuing|ocsp|tsa|audit|signing
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class AuditEvent(Base):
    """Append-only, hash-chained: hash = SHA-256(prev_hash ‖ canonical JSON of the row's content)."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHead(Base):
    """One row: the chain's tip. Updating it first serialises appenders on every database."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    key_label: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class SignatureRecord(Base):
    __tablename__ = "signature_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    document_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8), nullable=False)
    appearance: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class PendingSignature(Base):
    """Two-step (hash-only) signing state between /sign/prepare and /sign/complete."""

    __tablename__ = "pending_signatures"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    state: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Setting(Base):
    """Instance facts written at init (e.g. which certificate is the current issuing CA)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
