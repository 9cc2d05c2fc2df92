"""The public verification page: upload a signed PDF, read a verdict per signature (green / amber / red),
download the report. The verification itself is the verification service's (``signer/verify.py``)."""
from __future__ import annotations

import base64
import json
from typing import Any

from flask import Blueprint, current_app, render_template, request

from ca.errors import InvalidInput, KysoError, TooLarge, Unavailable
from web.auth import instance, public
from web.forms import VerifyForm
from web.page_text import message

bp = Blueprint("verify", __name__, url_prefix="/verify")



def colour(sig: dict[str, Any]) -> str:
    """The one green / amber / red mapping, shared with the downloadable report (signer.indication.colour)."""
    from signer.indication import colour as verdict_colour

    return verdict_colour(sig.get("indication"), sig.get("sub_indication"))


def verify_document(data: bytes) -> dict[str, Any]:
    """The report as in API.md (``POST /api/v1/verify``), from the verification service's process pool."""
    try:
        from web import verification
    except ImportError:
        raise Unavailable("Verification is not installed in this build",
                          "Bản cài đặt này chưa có chức năng kiểm tra chữ ký", code="verification_unavailable") from None
    limit = instance().settings.max_upload_bytes
    if len(data) > limit:
        raise TooLarge(f"The file is larger than {limit // (1024 * 1024)} MB",
                       f"Tệp lớn hơn {limit // (1024 * 1024)} MB", code="pdf_too_large")
    return verification.verifier_pool(current_app._get_current_object()).verify(data).report


def report_html(report: dict[str, Any]) -> str:
    """The downloadable, self-contained HTML report (the verification service's template)."""
    from web import verification

    return verification.render_report(report)


@bp.route("", methods=["GET", "POST"])
@public
def form() -> Any:
    form = VerifyForm()
    if request.method == "GET":
        return render_template("verify.html", form=form, report=None)
    upload = request.files.get("file")
    try:
        data = upload.read() if upload else b""
        if not data:
            raise InvalidInput("Choose a PDF file", "Hãy chọn một tệp PDF", code="file_missing")
        report = verify_document(data)
    except KysoError as exc:
        from web.errors import status_for

        status = status_for(exc)
        return render_template("verify.html", form=form, report=None, error=message(exc)), status
    sigs = report.get("signatures", [])
    for sig in sigs:
        sig["colour"] = colour(sig)
    from signer.indication import document_colour

    overall = document_colour(sigs, report.get("document_timestamps"))
    downloads = {"json": "data:application/json;base64," + base64.b64encode(
        json.dumps(report, ensure_ascii=False, indent=2).encode()).decode()}
    html = report_html(report)
    downloads["html"] = "data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode()
    name = (upload.filename or "document.pdf").rsplit("/", 1)[-1]
    return render_template("verify.html", form=form, report=report, signatures=sigs, overall=overall,
                           downloads=downloads, filename=name)
