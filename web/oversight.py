"""Read-only services for administrators and auditors: the audit log and its verification, and the state of
the CRLs and of the OCSP and time-stamping responders. Plain dicts out; no ORM rows leave this module."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ca.authority import cert_status
from ca.store.models import Certificate, Crl


def audit_events(inst: Any, *, limit: int = 100, before: int | None = None, q: str | None = None) -> list[dict]:
    """The audit log for the admin page (``ca.audit.recent_events``), with ``ts`` as a datetime for display."""
    from ca import audit

    with inst.store.read() as s:
        events = audit.recent_events(s, limit=min(limit, 500), before=before, q=q)
    for event in events:
        event["ts"] = dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    return events


def audit_verify(inst: Any) -> dict[str, Any]:
    """The same check as ``kyso audit verify``: hash chain and HSM-signed checkpoints."""
    from ca import audit

    key = inst.authority.audit_key()
    with inst.store.read() as s:
        report = audit.verify(s, key.public_key() if key is not None else None)
    return {"ok": report.ok, "events": report.events, "checkpoints": report.checkpoints,
            "problems": report.problems}


def _responder(inst: Any, role: str, now: Any) -> dict[str, Any]:
    auth = inst.authority
    with inst.store.read() as s:
        row = s.get(Certificate, auth.ca_id(role))
        return {"role": role, "subject": row.subject_cn, "serial": row.serial, "not_before": row.not_before,
                "not_after": row.not_after, "status": cert_status(row, now), "hsm": bool(row.key_label)}


def pki_status(inst: Any, endpoints: set[str]) -> dict[str, Any]:
    """The CA certificates and responders, and the latest full and delta CRL of each issuer."""
    auth = inst.authority
    now = auth.clock()
    crls = []
    with inst.store.read() as s:
        for role in ("root", "issuing"):
            issuer_id = auth.ca_id(role)
            for delta in (False, True):
                stmt = select(Crl).where(Crl.issuer_id == issuer_id)
                stmt = stmt.where(Crl.delta_base.is_not(None) if delta else Crl.delta_base.is_(None))
                row = s.execute(stmt.order_by(Crl.number.desc()).limit(1)).scalar_one_or_none()
                if row is None:
                    if not delta:
                        crls.append({"issuer": role, "delta": False, "number": None})
                    continue
                crls.append({"issuer": role, "delta": delta, "number": row.number, "this_update": row.this_update,
                             "next_update": row.next_update, "entries": row.entries,
                             "fresh": row.next_update > now})
    try:
        inst.keystore.health()
        hsm = "ok"
    except Exception as exc:  # noqa: BLE001 - shown, by name
        hsm = getattr(exc, "message", None) or str(exc)
    lifetime = {r["role"]: {"used_percent": r["used_percent"], "due": r["state"] != "ok"} for r in auth.ca_status()}
    return {"now": now, "hsm": hsm,
            "cas": [dict(_responder(inst, r, now), **lifetime[r]) for r in ("root", "issuing")],
            "responders": [dict(_responder(inst, r, now), **lifetime[r], endpoint=f"/{r}", served=f"/{r}" in endpoints)
                           for r in ("ocsp", "tsa")],
            "crls": crls,
            "crl_urls": {r: f"/pki/{r}.crl" for r in ("root", "issuing") if f"/pki/{r}.crl" in endpoints}}
