"""The public verification page: upload a signed PDF, read a verdict per signature (green / amber / red),
download the report. The verification itself is the verification service's (``signer/verify.py``)."""
from __future__ import annotations

import base64
import json
from typing import Any

from flask import Blueprint, render_template, request

from ca.errors import InvalidInput, KysoError, Unavailable
from web.auth import instance, public
from web.forms import VerifyForm
from web.pages import message

bp = Blueprint("verify", __name__, url_prefix="/verify")

COLOUR = {"TOTAL_PASSED": "green", "INDETERMINATE": "amber", "TOTAL_FAILED": "red"}


def verify_document(data: bytes) -> dict[str, Any]:
    """The report as in API.md (``POST /api/v1/verify``), from the verification service."""
    try:
        from signer import verify as verify_service
    except ImportError:
        raise Unavailable("Verification is not installed in this build",
                          "Bản cài đặt này chưa có chức năng kiểm tra chữ ký", code="verification_unavailable") from None
    report = verify_service.verify_pdf(data, instance())
    return report.to_json() if hasattr(report, "to_json") else report


def report_html(report: dict[str, Any]) -> str | None:
    """The downloadable HTML report, when the verification service renders one."""
    try:
        from web import verification
    except ImportError:
        return None
    render = getattr(verification, "render_report", None)
    return render(report) if render else None


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
        status = 503 if exc.kind in ("unavailable", "timeout") else 400
        return render_template("verify.html", form=form, report=None, error=message(exc)), status
    sigs = report.get("signatures", [])
    for sig in sigs:
        sig["colour"] = COLOUR.get(sig.get("indication"), "amber")
    overall = "red" if any(s["colour"] == "red" for s in sigs) else (
        "green" if sigs and all(s["colour"] == "green" for s in sigs) else "amber")
    downloads = {"json": "data:application/json;base64," + base64.b64encode(
        json.dumps(report, ensure_ascii=False, indent=2).encode()).decode()}
    html = report_html(report)
    if html:
        downloads["html"] = "data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode()
    name = (upload.filename or "document.pdf").rsplit("/", 1)[-1]
    return render_template("verify.html", form=form, report=report, signatures=sigs, overall=overall,
                           downloads=downloads, filename=name)
