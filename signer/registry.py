"""Revocation status of kyso's *own* certificates, straight from kyso's records (no CRL parsing).

The revocation service (``ca.revocation.status``) is the one way to ask; until it is present in a build this
module reads the ``revocations`` rows itself with the same meaning. Either way: one indexed lookup by serial.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ca.certbuilder import serial_hex
from ca.store.models import Certificate, Revocation


@dataclass(frozen=True)
class RegistryStatus:
    status: str  # good | revoked | unknown
    revoked_at: dt.datetime | None = None
    reason: str | None = None


def _from_rows(authority: Any, serial: int) -> RegistryStatus:
    with authority.store.read() as s:
        row = s.execute(select(Certificate.id, Certificate.revoked).where(Certificate.serial == serial_hex(serial))
                        ).first()
        if row is None:
            return RegistryStatus("unknown")
        rev = s.execute(select(Revocation.revoked_at, Revocation.reason, Revocation.released)
                        .where(Revocation.certificate_id == row.id)).first()
    if rev is None or rev.released:
        return RegistryStatus("good")
    return RegistryStatus("revoked", rev.revoked_at, rev.reason)


def profile(authority: Any, serial: int) -> str | None:
    """The kyso profile (official, agency, …) a certificate was issued under, or None."""
    with authority.store.read() as s:
        return s.execute(select(Certificate.profile).where(Certificate.serial == serial_hex(serial))).scalar()


def status(authority: Any, serial: int, issuer_role: str = "issuing") -> RegistryStatus:
    """``good`` / ``revoked`` (with time and reason) / ``unknown`` (kyso never issued this serial)."""
    try:
        from ca import revocation
    except ImportError:
        return _from_rows(authority, serial)
    answer = getattr(revocation, "status", None)
    if answer is None:
        return _from_rows(authority, serial)
    state, revoked_at, reason = answer(authority, serial, issuer_role=issuer_role)
    return RegistryStatus(state, revoked_at, reason)
