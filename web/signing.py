"""Signing API (API.md). Thin views: parse the multipart request → ``signer.service`` / ``signer.twostep`` →
PDF (or ZIP, or JSON).

* ``POST /api/v1/sign`` (official, clerk): one ``file`` → ``application/pdf``.
* ``POST /api/v1/sign/batch`` (official, clerk): several ``file`` parts, one activation (one ``otp``) →
  ``application/zip`` holding ``<name>-signed.pdf`` per file, in the order sent. All or nothing. The whole
  request stays within the upload limit (``KYSO_MAX_UPLOAD_MB``).
* ``POST /api/v1/sign/prepare`` and ``POST /api/v1/sign/complete``: hash-only two-step signing.
* ``POST /api/v1/me/signature-image`` (official) and ``POST /api/v1/me/seal-image`` (clerk): a PNG as ``file``
  (or the raw ``image/png`` body).

Every signed answer carries ``X-Kyso-Document-SHA256`` (of what was sent) and ``X-Kyso-Signed-SHA256``.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import PurePath
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request

from ca.errors import InvalidInput
from signer import errors, service, twostep
from web.auth import api_roles, instance

bp = Blueprint("signing", __name__, url_prefix="/api/v1")
SIGNERS = ("official", "clerk")


def _files() -> list[tuple[str, bytes]]:
    files = request.files.getlist("file")
    if not files:
        raise errors.NotAPdf("Send the PDF as the multipart field 'file'", "Hãy gửi tệp PDF trong trường 'file'",
                             code="file_required")
    return [(f.filename or "document.pdf", f.read()) for f in files]


def _pdf_response(pdf: bytes, original: bytes, filename: str) -> Response:
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{_signed_name(filename)}\""
    resp.headers["X-Kyso-Document-SHA256"] = hashlib.sha256(original).hexdigest()
    resp.headers["X-Kyso-Signed-SHA256"] = hashlib.sha256(pdf).hexdigest()
    return resp


def _signed_name(filename: str) -> str:
    stem = PurePath(filename.replace("\\", "/")).stem or "document"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:100]
    return f"{safe}-signed.pdf"


@bp.post("/sign")
@api_roles(*SIGNERS)
def sign() -> Any:
    files = _files()
    if len(files) != 1:
        raise InvalidInput("One file per request here; use POST /api/v1/sign/batch for several",
                           "Mỗi yêu cầu một tệp; dùng POST /api/v1/sign/batch để ký nhiều tệp", code="one_file_only")
    name, data = files[0]
    options = service.options_from_form(request.form)
    signed = service.sign_pdf(instance(), g.principal.username, data, options, otp=request.form.get("otp"))
    return _pdf_response(signed, data, name)


@bp.post("/sign/batch")
@api_roles(*SIGNERS)
def sign_batch() -> Any:
    files = _files()
    options = service.options_from_form(request.form)
    signed = service.sign_batch(instance(), g.principal.username, [d for _, d in files], options,
                                otp=request.form.get("otp"))
    buf = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for (name, _), pdf in zip(files, signed):
            out = _signed_name(name)
            n = 2
            while out in used:
                out = _signed_name(f"{PurePath(name).stem}-{n}")
                n += 1
            used.add(out)
            z.writestr(out, pdf)
    resp = Response(buf.getvalue(), mimetype="application/zip")
    resp.headers["Content-Disposition"] = "attachment; filename=\"signed.zip\""
    resp.headers["X-Kyso-Signed-Count"] = str(len(signed))
    return resp


@bp.post("/sign/prepare")
@api_roles(*SIGNERS)
def sign_prepare() -> Any:
    name, data = _files()[0]
    options = service.options_from_form(request.form)
    pem = request.form.get("certificate")
    if pem is None and "certificate" in request.files:
        pem = request.files["certificate"].read()
    return jsonify(twostep.prepare(instance(), g.principal.username, data, options, certificate_pem=pem or None))


@bp.post("/sign/complete")
@api_roles(*SIGNERS)
def sign_complete() -> Any:
    body = request.get_json(silent=True) if request.is_json else None
    fields = body if isinstance(body, dict) else request.form
    pending = fields.get("id")
    if not pending:
        raise InvalidInput("id (from /sign/prepare) is required", "Thiếu id (từ /sign/prepare)", code="id_required")
    signed = twostep.complete(instance(), g.principal.username, str(pending), signature=fields.get("signature"),
                              cms_der=fields.get("cms"))
    resp = Response(signed, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = "attachment; filename=\"document-signed.pdf\""
    resp.headers["X-Kyso-Signed-SHA256"] = hashlib.sha256(signed).hexdigest()
    return resp


def _image(kind: str) -> Any:
    if "file" in request.files:
        data = request.files["file"].read()
    else:
        data = request.get_data()
    return jsonify(service.set_image(instance(), g.principal.username, kind, data))


@bp.post("/me/signature-image")
@api_roles("official")
def signature_image() -> Any:
    return _image("signature")


@bp.post("/me/seal-image")
@api_roles("clerk")
def seal_image() -> Any:
    return _image("seal")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
