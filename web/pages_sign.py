"""The signing page (officials, clerks): upload one or many PDFs, choose level and appearance, click on a
preview of page 1 to place the signature, confirm with the TOTP code, download the result.

The signing itself is the signing service's (``signer/service.py``); this module parses the form, calls it and
serialises: one PDF back for one file, a ZIP for several (or newline-delimited JSON that
streams the batch's progress to the page's script)."""
from __future__ import annotations

import base64
import io
import json
import logging
import queue
import threading
import zipfile
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from flask_login import current_user

from ca.errors import InvalidInput, KysoError, Unavailable
from web import preview
from web.auth import instance, page_roles
from web.errors import status_for
from web.forms import SignForm
from web.page_text import message
from web.security import current_language

bp = Blueprint("sign", __name__, url_prefix="/sign")
log = logging.getLogger("kyso.web")
SIGNERS = ("official", "clerk")
MAX_FILES = 50


def _service() -> Any:
    try:
        from signer import service
    except ImportError:
        raise Unavailable("Signing is not installed in this build", "Bản cài đặt này chưa có chức năng ký số",
                          code="signing_unavailable") from None
    return service


def _stream_wanted() -> bool:
    return "application/x-ndjson" in request.headers.get("Accept", "")


def _signed_name(name: str) -> str:
    base = (name or "document.pdf").replace("\\", "/").rsplit("/", 1)[-1] or "document.pdf"
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    return f"{stem}-signed.pdf"


def _options(form: SignForm) -> Any:
    """The signing service's options, from the API's field names (the service checks them)."""
    fields: dict[str, Any] = {"level": form.level.data or "B-LT", "appearance": form.appearance.data or "signer"}
    if fields["appearance"] in ("signer", "seal"):
        fields["page"] = form.page.data or ""
        fields["box"] = (form.box.data or "").strip()
    for key in ("reason", "location", "doc_number"):
        fields[key] = getattr(form, key).data or ""
    if fields["appearance"] == "copy":
        fields["copy_form"] = form.copy_form.data
    return _service().options_from_form(fields)


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
        options = _options(form)
    except KysoError as exc:
        if _stream_wanted():
            return jsonify({"error": exc.code, "message": message(exc)}), status_for(exc)
        return _form_error(form, exc)
    names = [_signed_name(u.filename) for u in uploads]
    pdfs = [u.read() for u in uploads]
    otp = (form.otp.data or "").strip() or None
    if _stream_wanted():
        return _stream(names, pdfs, options, otp)
    try:
        signed = _service().sign_batch(instance(), current_user.username, pdfs, options, otp=otp)
    except KysoError as exc:
        return _form_error(form, exc)
    if len(signed) == 1:
        return _download(signed[0], names[0], "application/pdf")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, pdf in zip(_unique(names), signed):
            zf.writestr(name, pdf)
    return _download(buf.getvalue(), "signed.zip", "application/zip")


def _form_error(form: SignForm, exc: KysoError) -> Any:
    return render_template("sign.html", form=form, error=message(exc),
                           activation=instance().settings.signing_activation), status_for(exc)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name[:-4]}-{n + 1}.pdf")
    return out


def _stream(names: list[str], pdfs: list[bytes], options: Any, otp: str | None) -> Response:
    """The batch as newline-delimited JSON: ``{"signed": i, "total": n}`` after each document (the service's
    progress), then ``{"documents": [...]}`` once all are signed and recorded, or ``{"error", "message"}``."""
    inst, username, english = instance(), current_user.username, current_language() == "en"
    service = _service()
    events: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            signed = service.sign_batch(inst, username, pdfs, options, otp=otp,
                                        progress=lambda i: events.put({"signed": i, "total": len(pdfs)}))
        except KysoError as exc:
            events.put({"error": exc.code, "message": exc.en_message if english else exc.vi_message})
        except Exception:  # noqa: BLE001 - logged; the person sees a plain message
            log.exception("signing batch failed")
            events.put({"error": "internal_error",
                        "message": "Internal server error." if english else "Lỗi máy chủ."})
        else:
            events.put({"documents": [{"name": n, "size": len(p), "pdf": base64.b64encode(p).decode()}
                                      for n, p in zip(_unique(names), signed)]})
        events.put(None)

    worker = threading.Thread(target=work, name="kyso-sign-batch", daemon=True)
    worker.start()

    def lines() -> Any:
        yield json.dumps({"signed": 0, "total": len(pdfs)}) + "\n"
        while (event := events.get()) is not None:
            yield json.dumps(event, ensure_ascii=False) + "\n"
        worker.join()

    resp = Response(lines(), mimetype="application/x-ndjson")
    resp.headers["X-Accel-Buffering"] = "no"
    return resp


def _download(data: bytes, name: str, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    from urllib.parse import quote

    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return resp
