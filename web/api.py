"""JSON API ``/api/v1`` (API.md). Thin views: parse → call a service → serialise."""
from __future__ import annotations

from typing import Any

import json

from flask import Blueprint, jsonify, request
from werkzeug.http import HTTP_STATUS_CODES

from ca.authority import certificate_json
from ca.errors import InvalidInput, TooLarge
from ca.timeutil import iso_utc
from web.auth import actor, api_roles, instance, principal_for_header, public, require_role
from web.errors import describe, english_preferred, error_body
from web.security import HSTS, SECURITY_HEADERS
from web.wsgi import drain, read_capped

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("A JSON object body is expected (Content-Type: application/json)",
                           "Cần nội dung là một đối tượng JSON (Content-Type: application/json)", code="invalid_json")
    return data


def json_body() -> dict[str, Any]:
    return require_object(request.get_json(silent=True))


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


ISSUE_ROLES = ("admin",)
# A CSR is at most 64 KiB (ca.authority.MAX_CSR_BYTES); the rest of an issuance request is a subject.
MAX_ISSUE_BODY = 256 * 1024


def issue(inst: Any, data: Any, actor: str) -> dict[str, Any]:
    """``POST /api/v1/certificates``: the request's JSON object → the 201 body (API.md)."""
    data = require_object(data)
    keygen = data.get("keygen")
    if keygen is not None:
        if not isinstance(keygen, dict):
            raise InvalidInput("keygen must be an object like {\"algorithm\": \"rsa2048\"}",
                               "keygen phải có dạng {\"algorithm\": \"rsa2048\"}", code="invalid_keygen")
        keygen = keygen.get("algorithm", "rsa2048")
    profile = data.get("profile")
    if not isinstance(profile, str):
        raise InvalidInput("profile is required", "Thiếu trường profile", code="unknown_profile")
    issued = inst.authority.issue(profile=profile, subject=data.get("subject"), csr=data.get("csr"),
                                  keygen=keygen, owner=data.get("owner"), actor=actor)
    return {"serial": issued.serial, "pem": issued.pem, "not_before": iso_utc(issued.not_before),
            "not_after": iso_utc(issued.not_after), "status": issued.status,
            "key": "hsm" if issued.key_label else "external"}


@bp.post("/certificates")
@api_roles(*ISSUE_ROLES)
def issue_certificate() -> Any:
    """Documented route (OpenAPI, authorisation matrix). Requests are answered by ``IssueFastPath`` below,
    which calls the same ``issue``; this view serves only an app built without that middleware."""
    return jsonify(issue(instance(), request.get_json(silent=True), actor())), 201


class IssueFastPath:
    """WSGI middleware answering ``POST /api/v1/certificates`` before Flask.

    Issuance is the API's high-volume write (issue #3 wants ≥ 500 certificates/s over REST on 2 cores). Flask's
    request machinery and the app-wide hooks (CSRF, limiter, Babel, login manager, session) cost more CPU than
    building the certificate (docs/performance.md); none of them applies to a bearer-token JSON call. This path
    keeps everything that does apply, through the same functions the Flask views use: the bearer token and role
    check (``web.auth``), the body rules (JSON object, size cap → 413), the service call (``issue``), the error
    table and bilingual error body (``web.errors``) and the security headers (``web.security``). Anything that is
    not exactly ``POST /api/v1/certificates`` goes to Flask untouched.
    """

    PATH = "/api/v1/certificates"

    def __init__(self, app: Any, wsgi_app: Any):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        inst = self.app.extensions["kyso"]
        close = False
        try:
            principal = require_role(principal_for_header(inst, environ.get("HTTP_AUTHORIZATION", "")), ISSUE_ROLES)
            status, body = 201, issue(inst, _json_object(environ), principal.username)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error from the one table
            status, code, vi, en = describe(exc, f"POST {self.PATH}")
            body = error_body(code, vi, en, english_preferred(environ.get("HTTP_ACCEPT_LANGUAGE")))
            if status == 413:  # the body was not read: drain a bounded one, else close the connection
                close = not drain(environ)
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *SECURITY_HEADERS]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(HSTS)
        if close:
            headers.append(("Connection", "close"))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, '')}", headers)
        return [data]


def _json_object(environ: dict) -> Any:
    """The request body as JSON, by Flask's rules (``application/json`` or ``application/*+json``); ``None``
    when it is not JSON (``issue`` refuses it); ``TooLarge`` above ``MAX_ISSUE_BODY``."""
    mimetype = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    if not (mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))):
        return None
    raw = read_capped(environ, MAX_ISSUE_BODY)
    if raw is None:
        raise TooLarge(f"The request body is larger than {MAX_ISSUE_BODY // 1024} KiB",
                       f"Nội dung yêu cầu lớn hơn {MAX_ISSUE_BODY // 1024} KiB", code="request_too_large")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


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
