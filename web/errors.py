"""Domain errors → HTTP, in one table (DESIGN rule 3). Views raise; nothing else picks statuses.

JSON body: ``{"error": code, "message": text, "message_vi": …, "message_en": …}``; ``message`` is in the
request's preferred language (Vietnamese unless the client prefers English).
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

from ca.errors import KysoError
from hsm.errors import HsmError

log = logging.getLogger("kyso.web")

# kind -> HTTP status
STATUS_BY_KIND = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unsupported_media": 415,
    "unprocessable": 422,
    "rate_limited": 429,
    "unavailable": 503,
    "timeout": 503,
}
# HSM errors: a misconfigured or missing HSM is the server's trouble (503); a missing key is a 404 …
STATUS_BY_HSM_CODE = {
    "hsm_key_not_found": 404,
    "hsm_key_exists": 409,
    "hsm_unsupported_algorithm": 400,
    "hsm_key_export_refused": 403,
}

_HTTP_TEXT = {
    400: ("Yêu cầu không hợp lệ.", "Bad request."),
    401: ("Cần đăng nhập.", "Authentication required."),
    403: ("Không có quyền.", "Forbidden."),
    404: ("Không tìm thấy.", "Not found."),
    405: ("Phương thức không được hỗ trợ.", "Method not allowed."),
    413: ("Tệp quá lớn.", "The upload is too large."),
    415: ("Kiểu nội dung không được hỗ trợ.", "Unsupported media type."),
    429: ("Quá nhiều yêu cầu, vui lòng thử lại sau.", "Too many requests; try again later."),
    500: ("Lỗi máy chủ.", "Internal server error."),
    503: ("Dịch vụ tạm thời không sẵn sàng.", "Service unavailable."),
}


def wants_json() -> bool:
    path = request.path
    if path.startswith(("/api/", "/pki/", "/ocsp", "/tsa")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def english_preferred(accept_language: str | None, session_lang: str | None = None) -> bool:
    """The language rule, from raw values: the session's switch first, else the Accept-Language header;
    Vietnamese unless English is preferred."""
    if session_lang:
        return session_lang == "en"
    if not accept_language:
        return False
    return parse_accept_header(accept_language, LanguageAccept).best_match(["vi", "en"]) == "en"


def prefers_english() -> bool:
    from flask import session

    return english_preferred(request.headers.get("Accept-Language"), session.get("lang") if session else None)


def error_body(code: str, vi: str, en: str, english: bool, extra: dict | None = None) -> dict:
    body = {"error": code, "message": en if english else vi, "message_vi": vi, "message_en": en}
    if extra:
        body.update(extra)
    return body


def error_response(code: str, vi: str, en: str, status: int, extra: dict | None = None) -> Any:
    english = prefers_english()
    if wants_json():
        resp = jsonify(error_body(code, vi, en, english, extra))
        resp.status_code = status
        return resp
    message = en if english else vi
    return render_template("error.html", code=code, message=message, vi=vi, en=en, status=status), status


def status_for(exc: Exception) -> int:
    if isinstance(exc, HsmError):
        return STATUS_BY_HSM_CODE.get(exc.code, 503)
    return STATUS_BY_KIND.get(getattr(exc, "kind", "invalid"), 400)


def describe(exc: Exception, where: str = "") -> tuple[int, str, str, str]:
    """``(status, code, vi, en)`` for any exception a view lets escape: domain and HSM errors by the tables
    above; anything else is logged (with its stack, for the operator) and answered as a bare 500."""
    if isinstance(exc, KysoError):
        return status_for(exc), exc.code, exc.vi_message, exc.en_message
    if isinstance(exc, HsmError):
        status = status_for(exc)
        if status >= 500:
            log.error("HSM error: %s", exc)
        return status, exc.code, exc.vi_message, str(exc)
    log.error("unexpected error on %s", where or "?", exc_info=exc)
    vi, en = _HTTP_TEXT[500]
    return 500, "internal_error", vi, en


def register(app: Flask) -> None:
    @app.errorhandler(KysoError)
    @app.errorhandler(HsmError)
    def _domain(exc: Exception):  # noqa: ANN202
        status, code, vi, en = describe(exc)
        return error_response(code, vi, en, status)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # noqa: ANN202
        status = exc.code or 500
        vi, en = _HTTP_TEXT.get(status, (exc.name, exc.name))
        if status == 413:
            mb = app.config.get("MAX_CONTENT_LENGTH", 0) // (1024 * 1024)
            vi, en = f"Tệp quá lớn (tối đa {mb} MB).", f"The upload is too large (limit {mb} MB)."
        code = exc.name.lower().replace(" ", "_")
        if getattr(exc, "description", None) and status == 400 and "CSRF" in str(exc.description):
            code, vi, en = "csrf_failed", "Phiên làm việc đã hết hạn, vui lòng thử lại.", "The form expired (CSRF); try again."
        return error_response(code, vi, en, status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        status, code, vi, en = describe(exc, f"{request.method} {request.path}")
        return error_response(code, vi, en, status)
