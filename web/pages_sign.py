"""The signing page (officials, clerks): upload one or many PDFs, choose level and appearance, click on a
preview of page 1 to place the signature, confirm with the TOTP code, download the result.

The signing itself is the signing service's (``signer/service.py``); this module parses the form, calls it and
serialises: one PDF back for one file, a ZIP for several (or JSON with every file for the page's script, which
shows the batch's progress)."""
from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from flask_login import current_user

from ca.errors import InvalidInput, KysoError, Unavailable
from web import preview
from web.auth import instance, page_roles
from web.forms import SignForm
from web.pages import message

bp = Blueprint("sign", __name__, url_prefix="/sign")
SIGNERS = ("official", "clerk")
MAX_FILES = 50


def _service() -> Any:
    try:
        from signer import service
    except ImportError:
        raise Unavailable("Signing is not installed in this build", "Bản cài đặt này chưa có chức năng ký số",
                          code="signing_unavailable") from None
    return service


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _signed_name(name: str) -> str:
    base = (name or "document.pdf").replace("\\", "/").rsplit("/", 1)[-1] or "document.pdf"
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    return f"{stem}.signed.pdf"


def _options(form: SignForm) -> dict[str, Any]:
    opts: dict[str, Any] = {"level": form.level.data or "B-LT", "appearance": form.appearance.data or "signer"}
    if opts["appearance"] in ("signer", "seal"):
        opts["page"] = form.page.data or 1
        if form.box.data:
            opts["box"] = form.box.data.strip()
    for key in ("reason", "location", "doc_number"):
        value = getattr(form, key).data
        if value and value.strip():
            opts[key] = value.strip()
    if opts["appearance"] == "copy":
        opts["copy_form"] = form.copy_form.data
    return opts


@bp.get("")
@page_roles(*SIGNERS)
def form() -> Any:
    return render_template("sign.html", form=SignForm(), activation=instance().settings.signing_activation)


@bp.post("/preview")
@page_roles(*SIGNERS)
def page_preview() -> Any:
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    if not data:
        raise InvalidInput("Choose a PDF file", "Hãy chọn một tệp PDF", code="file_missing")
    try:
        page = max(1, int(request.form.get("page") or 1))
    except ValueError:
        page = 1
    pic = preview.render_page(data, page)
    return jsonify({"image": "data:image/png;base64," + base64.b64encode(pic.png).decode(),
                    "width": pic.width_pt, "height": pic.height_pt, "pages": pic.pages, "page": page})


@bp.post("")
@page_roles(*SIGNERS)
def sign() -> Any:
    form = SignForm()
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    try:
        if not form.validate_on_submit():
            raise InvalidInput("Check the signing options", "Hãy kiểm tra các tùy chọn ký", code="invalid_options")
        if not uploads:
            raise InvalidInput("Choose at least one PDF file", "Hãy chọn ít nhất một tệp PDF", code="file_missing")
        if len(uploads) > MAX_FILES:
            raise InvalidInput(f"At most {MAX_FILES} files at once", f"Tối đa {MAX_FILES} tệp mỗi lần",
                               code="too_many_files")
        documents = [(_signed_name(u.filename), u.read()) for u in uploads]
        results = _service().sign_batch(instance(), current_user.username, [d for _, d in documents],
                                        otp=(form.otp.data or "").strip() or None, **_options(form))
    except KysoError as exc:
        if _wants_json():
            raise
        status = {"forbidden": 403, "not_found": 404, "conflict": 409, "too_large": 413,
                  "unavailable": 503}.get(exc.kind, 400)
        return render_template("sign.html", form=form, error=message(exc),
                               activation=instance().settings.signing_activation), status
    signed = [(name, bytes(pdf)) for (name, _), pdf in zip(documents, results)]
    if _wants_json():
        return jsonify({"documents": [{"name": n, "size": len(p), "pdf": base64.b64encode(p).decode()}
                                      for n, p in signed]})
    if len(signed) == 1:
        name, pdf = signed[0]
        return _download(pdf, name, "application/pdf")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, pdf in signed:
            zf.writestr(name, pdf)
    return _download(buf.getvalue(), "signed.zip", "application/zip")


def _download(data: bytes, name: str, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    from urllib.parse import quote

    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return resp
