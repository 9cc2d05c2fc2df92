"""Public status endpoints (CRLs, OCSP, TSA) and the revocation API. Thin views: parse → ca service → bytes.

* ``GET /pki/issuing.crl``, ``/pki/root.crl``, ``/pki/issuing-delta.crl`` — DER, ``application/pkix-crl``, with
  ETag / Last-Modified (304 on If-None-Match / If-Modified-Since) and caching until the CRL's nextUpdate.
* ``POST /ocsp`` (``application/ocsp-request``) and ``GET /ocsp/<base64>`` — RFC 6960; always 200 with an
  OCSPResponse (error statuses are OCSP statuses, as the RFC wants).
* ``POST /tsa`` (``application/timestamp-query``) — RFC 3161; always 200 with a TimeStampResp.
* ``POST /api/v1/certificates/<serial>/revoke`` and ``…/release-hold`` (admin).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ca import crl, ocsp, revocation, tsa
from web.auth import actor, api_roles, instance, public
from web.wsgi import read_capped

bp = Blueprint("pki_status", __name__)

_MAX_BODY = 64 * 1024


def _crl_response(role: str, delta: bool) -> Response:
    auth = instance().authority
    published = crl.current(auth, role, delta)
    resp = Response(published.der, mimetype="application/pkix-crl")
    resp.set_etag(published.etag.strip('"'))
    resp.last_modified = published.this_update
    remaining = int((published.next_update - auth.clock()).total_seconds())
    resp.cache_control.public = True
    resp.cache_control.max_age = max(0, min(remaining, 3600))
    resp.headers["Content-Disposition"] = f"inline; filename={published.file_name}"
    return resp.make_conditional(request)


@bp.get("/pki/issuing.crl")
@public
def issuing_crl() -> Any:
    return _crl_response("issuing", False)


@bp.get("/pki/issuing-delta.crl")
@public
def issuing_delta_crl() -> Any:
    return _crl_response("issuing", True)


@bp.get("/pki/root.crl")
@public
def root_crl() -> Any:
    return _crl_response("root", False)


def _body() -> bytes:
    if (request.content_length or 0) > _MAX_BODY:
        return b""  # answered as malformed by the service; never read a huge body
    return request.get_data(cache=False)


def _ocsp_reply(der_bytes: bytes, cacheable: bool) -> Response:
    resp = Response(der_bytes, mimetype="application/ocsp-response")
    if cacheable and ocsp.is_successful(der_bytes):
        resp.cache_control.public = True
        resp.cache_control.max_age = instance().settings.ocsp_validity_minutes * 30
    else:
        resp.cache_control.no_store = True
    return resp


@bp.post("/ocsp")
@public
def ocsp_post() -> Any:
    return _ocsp_reply(ocsp.respond(instance().authority, _body()), cacheable=False)


@bp.get("/ocsp/", defaults={"encoded": ""})
@bp.get("/ocsp/<path:encoded>", merge_slashes=False)
@public
def ocsp_get(encoded: str) -> Any:
    try:
        data = base64.b64decode(encoded.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    return _ocsp_reply(ocsp.respond(instance().authority, data), cacheable=True)


@bp.post("/tsa")
@public
def tsa_post() -> Any:
    resp = Response(tsa.respond(instance().authority, _body()), mimetype="application/timestamp-reply")
    resp.cache_control.no_store = True
    return resp


@bp.post("/api/v1/certificates/<serial>/revoke")
@api_roles("admin")
def revoke_certificate(serial: str) -> Any:
    from web.api import json_body

    data = json_body()
    out = revocation.revoke(instance().authority, serial, data.get("reason", "unspecified"),
                            invalidity_date=data.get("invalidity_date"), actor=actor())
    return jsonify(out)


@bp.post("/api/v1/certificates/<serial>/release-hold")
@api_roles("admin")
def release_hold(serial: str) -> Any:
    return jsonify(revocation.release_hold(instance().authority, serial, actor=actor()))


class StatusFastPath:
    """WSGI middleware answering ``POST /ocsp``, ``GET /ocsp/<base64>`` and ``POST /tsa`` before Flask.

    These public, binary, high-volume endpoints take no session, cookie, form, template or login: Flask's request
    machinery and the app's hooks cost several times the work of the answer itself (measured in
    docs/performance.md). The answers are exactly those of the Flask views above, which stay registered (for the
    route table and documentation) and serve anything the fast path declines. Rate limiting of these endpoints
    belongs in front of the server (reverse proxy or CDN), as for any OCSP responder.
    """

    def __init__(self, app: Any, wsgi_app: Any):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if method == "POST" and path in ("/ocsp", "/ocsp/", "/tsa"):
            body = read_capped(environ, _MAX_BODY) or b""  # too large: answered as malformed
            auth = self.app.extensions["kyso"].authority
            if path == "/tsa":
                return self._reply(start_response, tsa.respond(auth, body), "application/timestamp-reply", None)
            return self._reply(start_response, ocsp.respond(auth, body), "application/ocsp-response", None)
        if method == "GET" and path.startswith("/ocsp/"):
            try:
                data = base64.b64decode(path[6:].replace(" ", "+"), validate=True)
            except (binascii.Error, ValueError):
                data = b""
            inst = self.app.extensions["kyso"]
            answer = ocsp.respond(inst.authority, data)
            max_age = inst.settings.ocsp_validity_minutes * 30 if ocsp.is_successful(answer) else None
            return self._reply(start_response, answer, "application/ocsp-response", max_age)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _reply(start_response: Any, data: bytes, mimetype: str, max_age: int | None) -> list[bytes]:
        cache = f"public, max-age={max_age}" if max_age is not None else "no-store"
        start_response("200 OK", [("Content-Type", mimetype), ("Content-Length", str(len(data))),
                                  ("Cache-Control", cache)])
        return [data]


def init_app(app: Any) -> None:
    app.register_blueprint(bp)
    app.wsgi_app = StatusFastPath(app, app.wsgi_app)
