"""The Flask app factory: ``create_app(settings)`` composes ca/, signer/ and hsm/ for the web."""
from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask

from ca.instance import Instance
from ca.settings import Settings

log = logging.getLogger("kyso.web")


def create_app(settings: Settings | None = None, *, instance: Instance | None = None,
               config: dict[str, Any] | None = None) -> Flask:
    settings = settings or (instance.settings if instance else Settings.from_env())
    inst = instance or Instance.open(settings)
    app = Flask(__name__, template_folder="templates", static_folder="static")
    secret = settings.secret_key
    if not secret:
        if settings.production:
            raise RuntimeError("KYSO_SECRET_KEY (or KYSO_SECRET_KEY_FILE) is required in production")
        secret = secrets.token_urlsafe(48)
        log.warning("no secret key configured: sessions last until this process restarts")
    app.config.update(
        SECRET_KEY=secret,
        # the upload limit plus room for the other multipart fields
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 256 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        JSON_AS_ASCII=False,
        KYSO_SETTINGS=settings,
    )
    app.json.ensure_ascii = False
    if config:
        app.config.update(config)
    app.extensions["kyso"] = inst
    from web import errors
    from web.auth import login_manager

    errors.register(app)
    login_manager.init_app(app)
    from web import api, pages, pki

    app.register_blueprint(api.bp)
    app.register_blueprint(pki.bp)
    app.register_blueprint(pages.bp)
    for extension in _extensions():
        extension(app)
    app.wsgi_app = api.IssueFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies > 0:  # outermost: every middleware and view sees the client's address
        # Behind N load balancers / reverse proxies: take the client address, scheme and host from the last N
        # X-Forwarded-* entries, so rate limits and audit see the real client. Never on by default: a client
        # could otherwise pick its own address and dodge the login throttle.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    return app


def _extensions() -> list:
    """Blueprints and hooks of the other capabilities, each registering itself (see their modules)."""
    import importlib

    found = []
    for name in ("web.pki_status", "web.signing", "web.verification", "web.security", "web.openapi"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        found.append(module.init_app)
    return found
