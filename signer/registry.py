"""Revocation status of kyso's *own* certificates, straight from kyso's records (no CRL parsing).

The revocation service answers (``ca.revocation.status_many``: one indexed query on a pooled driver connection,
the OCSP responder's path, same meaning as ``ca.revocation.status``); the profile a certificate was issued under
is one indexed read (``Store.fetch_one``, a prepared statement). Nothing is cached: a revocation recorded a moment
ago counts for the next verification. (Through an ORM session each lookup cost ~0.15 ms of CPU, four of them ~5% of
a verification.)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from ca import revocation
from ca.certbuilder import serial_hex
from ca.store.models import Certificate
from ca.store.prepared import Prepared


@dataclass(frozen=True)
class RegistryStatus:
    status: str  # good | revoked | unknown
    revoked_at: dt.datetime | None = None
    reason: str | None = None


def status(authority: Any, serial: int, issuer_role: str = "issuing") -> RegistryStatus:
    """``good`` / ``revoked`` (with time and reason) / ``unknown`` (kyso never issued this serial)."""
    state, revoked_at, reason = revocation.status_many(authority, [serial], issuer_role)[serial]
    return RegistryStatus(state, revoked_at, reason)


_PROFILE = Prepared(select(Certificate.profile).where(Certificate.serial == bindparam("serial")))


def profile(authority: Any, serial: int) -> str | None:
    """The kyso profile (official, agency, …) a certificate was issued under, or None."""
    row = authority.store.fetch_one(_PROFILE, {"serial": serial_hex(serial)})
    return row[0] if row is not None else None
