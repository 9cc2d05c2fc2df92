"""``POST /api/v1/verify`` (public): upload a PDF, get the verification report (API.md).

* ``format`` (query or form field): ``json`` (default), ``html`` (a self-contained report file to download and
  file), ``xml`` (the ETSI TS 119 102-2 validation report).
* Bounded: the document is verified in a killable worker process (:mod:`signer.sandbox`) within
  ``Settings.verify_timeout_s`` (``KYSO_VERIFY_TIMEOUT``, 10 s); the upload is capped by ``KYSO_MAX_UPLOAD_MB``.
* Rate-limited per client address with Flask-Limiter, in-memory storage (so per web worker process: with
  ``--workers N`` a client may reach N times the limit). ``KYSO_VERIFY_RATE_LIMIT`` (app config or environment),
  e.g. ``"120 per minute"`` (default) or ``off``. Test apps (``TESTING``) are unlimited unless configured.

``render_report(report)`` gives the HTML report (a whole document, or with ``standalone=False`` the body to put
inside a page); it needs no app context, so the CLI and the web pages use the same template.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from ca.errors import InvalidInput, TooLarge
from web.auth import instance, public

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_RATE_LIMIT = "120 per minute"
_env = None


def render_report(report: dict[str, Any], *, standalone: bool = True) -> str:
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        from signer.indication import colour, document_colour

        _env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
        _env.globals.update(verdict_colour=colour, document_colour=document_colour)
    return _env.get_template("report/standalone.html" if standalone else "report/_body.html").render(report=report)


def _settings() -> Any:
    return current_app.config.get("KYSO_SETTINGS") or instance().settings


def verifier_pool(app: Flask) -> Any:
    """This web worker's pool of verification processes (started on first use, after any fork)."""
    pool = app.extensions.get("kyso_verify_pool")
    if pool is None:
        from signer.sandbox import VerifyPool

        settings = app.config.get("KYSO_SETTINGS") or app.extensions["kyso"].settings
        size = int(app.config.get("KYSO_VERIFY_WORKERS") or os.environ.get("KYSO_VERIFY_WORKERS") or 2)
        pool = VerifyPool(settings, size=size, timeout=settings.verify_timeout_s)
        app.extensions["kyso_verify_pool"] = pool
    return pool


def _upload() -> bytes:
    f = request.files.get("file")
    if f is None:
        raise InvalidInput("Send the PDF as the multipart field 'file'",
                           "Hãy gửi tệp PDF trong trường 'file' (multipart/form-data)", code="file_required")
    limit = _settings().max_upload_bytes
    data = f.stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"The file is larger than {limit // (1024 * 1024)} MB",
                       f"Tệp lớn hơn {limit // (1024 * 1024)} MB", code="pdf_too_large")
    if not data:
        raise InvalidInput("The file is empty", "Tệp rỗng", code="empty_file")
    return data


def verify_view() -> Any:
    fmt = (request.args.get("format") or request.form.get("format") or "json").lower()
    if fmt not in ("json", "html", "xml"):
        raise InvalidInput("format is json, html or xml", "format phải là json, html hoặc xml", code="invalid_format")
    data = _upload()
    result = verifier_pool(current_app._get_current_object()).verify(data, xml=fmt == "xml")
    report = result.report
    name = f"bao-cao-xac-thuc-{report['document']['sha256'][:12]}"
    if fmt == "html":
        resp = Response(render_report(report), mimetype="text/html")
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}.html"'
        return resp
    if fmt == "xml":
        resp = Response(result.xml or "", mimetype="application/xml")
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}.xml"'
        return resp
    return jsonify(report)


def init_app(app: Flask) -> None:
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    limit = app.config.get("KYSO_VERIFY_RATE_LIMIT") or os.environ.get("KYSO_VERIFY_RATE_LIMIT") or (
        "off" if app.config.get("TESTING") else DEFAULT_RATE_LIMIT)
    view = public(verify_view)
    if str(limit).lower() != "off":
        limiter = Limiter(key_func=get_remote_address, app=app, storage_uri="memory://", default_limits=[],
                          headers_enabled=False, strategy="fixed-window")
        view = limiter.limit(limit)(view)
        view._kyso_roles = ("public",)  # type: ignore[attr-defined]
    app.add_url_rule("/api/v1/verify", "verification.verify", view, methods=["POST"])
