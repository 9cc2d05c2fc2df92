"""JSON API ``/api/v1`` (API.md). Thin views: parse → call a service → serialise."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from ca.authority import certificate_json
from ca.errors import InvalidInput
from web.auth import api_roles, instance, public, actor

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("A JSON object body is expected (Content-Type: application/json)",
                           "Cần nội dung là một đối tượng JSON (Content-Type: application/json)", code="invalid_json")
    return data


@bp.get("/health")
@public
def health() -> Any:
    inst = instance()
    body = {"status": "ok", "hsm": "ok", "database": "ok"}
    try:
        inst.keystore.health()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, by name
        body["hsm"] = f"error: {getattr(exc, 'message', None) or exc}"
    try:
        inst.store.health()
    except Exception as exc:  # noqa: BLE001
        body["database"] = f"error: {getattr(exc, 'message', None) or exc}"
    failing = [k for k in ("hsm", "database") if body[k] != "ok"]
    if failing:
        body["status"] = "error"
        body["failing"] = failing
        return jsonify(body), 503
    return jsonify(body)


@bp.post("/certificates")
@api_roles("admin")
def issue_certificate() -> Any:
    data = json_body()
    keygen = data.get("keygen")
    if keygen is not None:
        if not isinstance(keygen, dict):
            raise InvalidInput("keygen must be an object like {\"algorithm\": \"rsa2048\"}",
                               "keygen phải có dạng {\"algorithm\": \"rsa2048\"}", code="invalid_keygen")
        keygen = keygen.get("algorithm", "rsa2048")
    profile = data.get("profile")
    if not isinstance(profile, str):
        raise InvalidInput("profile is required", "Thiếu trường profile", code="unknown_profile")
    issued = instance().authority.issue(profile=profile, subject=data.get("subject"), csr=data.get("csr"),
                                        keygen=keygen, owner=data.get("owner"), actor=actor())
    from ca.timeutil import iso_utc

    return jsonify({"serial": issued.serial, "pem": issued.pem, "not_before": iso_utc(issued.not_before),
                    "not_after": iso_utc(issued.not_after), "status": issued.status,
                    "key": "hsm" if issued.key_label else "external"}), 201


@bp.get("/certificates")
@api_roles("admin", "auditor")
def list_certificates() -> Any:
    auth = instance().authority
    try:
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise InvalidInput("limit and offset are integers", "limit và offset là số nguyên", code="invalid_paging") from None
    rows = auth.search(status=request.args.get("status") or None, q=request.args.get("q"), limit=limit, offset=offset)
    now = auth.clock()
    return jsonify({"certificates": [certificate_json(r, now) for r in rows], "count": len(rows)})


@bp.get("/certificates/<serial>")
@api_roles("admin", "auditor")
def get_certificate(serial: str) -> Any:
    auth = instance().authority
    return jsonify(certificate_json(auth.get(serial), auth.clock()))


@bp.get("/audit")
@api_roles("admin", "auditor")
def audit_events() -> Any:
    from ca.audit import recent_events

    try:
        limit = int(request.args.get("limit", 100))
        before = request.args.get("before")
        before = int(before) if before else None
    except ValueError:
        raise InvalidInput("limit and before are integers", "limit và before là số nguyên", code="invalid_paging") from None
    with instance().store.read() as s:
        events = recent_events(s, limit=limit, before=before)
    return jsonify({"events": events})
