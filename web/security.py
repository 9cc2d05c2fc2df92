"""Web security and language, registered by ``init_app(app)``:

* CSRF (Flask-WTF ``CSRFProtect``) on every state-changing request of the pages. The bearer-token JSON API
  (``/api/``) and the public PKI protocols (``/pki/``, ``/ocsp``, ``/tsa``) are exempt *by URL prefix*: they
  ignore cookies (web/auth.py), so a forged cross-site request carries no authority there.
* Security headers: a CSP with no inline script or style, ``frame-ancestors 'none'``, nosniff, a strict
  referrer policy; pages are ``no-store`` (they may show one-time secrets such as a new API token).
* Login throttling with Flask-Limiter (in-memory storage: per worker process; failed attempts only).
* Flask-Babel: Vietnamese by default, English by the switch ``/lang/en`` (kept in the session).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from web.auth import public

LANGUAGES = ("vi", "en")
CSRF_EXEMPT_PREFIXES = ("/api/", "/pki/", "/ocsp", "/tsa")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; connect-src 'self'")

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", default_limits=[],
                  headers_enabled=False, strategy="fixed-window")
babel = Babel()

# failed logins allowed before the door closes for a while
LOGIN_LIMIT_PER_USER = "5 per minute"
LOGIN_LIMIT_PER_ADDRESS = "30 per minute"


def current_language() -> str:
    lang = session.get("lang") if session else None
    return lang if lang in LANGUAGES else "vi"


def _login_user_key() -> str:
    return f"{get_remote_address()}|{(request.form.get('username') or '').strip().lower()[:64]}"


def login_failed(response: Any) -> bool:
    return response.status_code == 401


def throttle_login(view: Any) -> Any:
    """Decorator for the login view: failed POSTs count, per (address, user name) and per address."""
    view = limiter.limit(LOGIN_LIMIT_PER_USER, key_func=_login_user_key, methods=["POST"],
                         deduct_when=login_failed)(view)
    return limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"], deduct_when=login_failed)(view)


def _csrf_applies() -> bool:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    return not request.path.startswith(CSRF_EXEMPT_PREFIXES)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def _security_headers(response: Any) -> Any:
    h = response.headers
    for name, value in SECURITY_HEADERS:
        h.setdefault(name, value)
    if response.mimetype == "text/html":
        h.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        h.setdefault(*HSTS)
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # we decide by URL prefix below
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "vi")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=current_language, default_locale="vi",
                   default_timezone="Asia/Ho_Chi_Minh")

    @app.before_request
    def _protect() -> None:
        if _csrf_applies():
            csrf.protect()

    app.after_request(_security_headers)

    @app.context_processor
    def _language() -> dict[str, Any]:
        return {"lang": current_language()}

    # Flask's own static route: public by design, and marked so the authorisation matrix sees it
    static_view = app.view_functions.get("static")
    if static_view is not None and not hasattr(static_view, "_kyso_roles"):
        def static(filename: str) -> Any:
            return static_view(filename=filename)

        app.view_functions["static"] = public(static)
