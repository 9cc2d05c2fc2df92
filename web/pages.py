"""HTML pages for people (Vietnamese first, English by ``/lang/en``): start, log in/out, language switch.

The other pages live in their own modules, registered here as nested blueprints: ``pages_account`` (my
account), ``pages_admin`` (users, certificates, status, audit), ``pages_sign`` and ``pages_verify``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user

from ca.errors import Unauthorized
from ca.timeutil import iso_utc, to_vn
from web import accounts
from web.auth import Principal, instance, page_roles, public
from web.forms import EmptyForm, LoginForm
from web.page_text import ALL_ROLES, message
from web.security import LANGUAGES, throttle_login

bp = Blueprint("pages", __name__)


@bp.app_template_filter("vn")
def _vn(value: dt.datetime | None) -> str:
    """Time for people: Vietnam time, dd/mm/yyyy HH:MM:SS (+07:00)."""
    if value is None:
        return "—"
    return to_vn(value).strftime("%d/%m/%Y %H:%M:%S") + " (+07:00)"


@bp.app_template_filter("iso_utc")
def _iso_utc(value: dt.datetime | None) -> str:
    return iso_utc(value) or ""


@bp.app_template_filter("vn_iso")
def _vn_iso(value: str | None) -> str:
    if not value:
        return "—"
    return _vn(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))


ROLE_NAMES = {"admin": _l("Administrator"), "official": _l("Official"), "clerk": _l("Clerk"),
              "auditor": _l("Auditor")}
STATUS_NAMES = {"valid": _l("valid"), "revoked": _l("revoked"), "expired": _l("expired"),
                "not_yet_valid": _l("not yet valid")}
REVOCATION_NAMES = {"good": _l("not revoked"), "revoked": _l("REVOKED"), "unknown": _l("unknown")}
REPORT_TERMS = {"entire_document": _l("the entire document"), "entire_revision": _l("the entire signed revision"),
                "partial": _l("part of the document"), "none": _l("none"), "form_filling": _l("form filling, signatures"),
                "annotations": _l("annotations"), "other": _l("other changes"), "crl": "CRL", "ocsp": "OCSP",
                "registry": _l("kyso's register")}


@bp.app_context_processor
def _names() -> dict[str, Any]:
    return {"role_name": lambda r: str(ROLE_NAMES.get(r, r)), "status_name": lambda s: str(STATUS_NAMES.get(s, s)),
            "revocation_name": lambda s: str(REVOCATION_NAMES.get(s, s)),
            "term": lambda s: str(REPORT_TERMS.get(s, s))}


def safe_next(target: str | None) -> str:
    """Only local paths: never redirect a fresh login to another site."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.index")
    return target


@bp.get("/")
@public
def index() -> Any:
    inst = instance()
    try:
        initialised = inst.authority.is_initialised()
    except Exception:  # noqa: BLE001 - the start page must render even when the database is down
        initialised = False
    return render_template("index.html", initialised=initialised)


@bp.route("/login", methods=["GET", "POST"])
@public
@throttle_login
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("login.html", form=form)
    if not form.validate_on_submit():
        return render_template("login.html", form=form, error=_("Enter your user name and password.")), 400
    try:
        user = accounts.login(instance(), form.username.data, form.password.data, address=request.remote_addr)
    except Unauthorized as exc:
        form.password.data = ""
        return render_template("login.html", form=form, error=message(exc)), 401
    lang = session.get("lang")
    session.clear()  # a fresh session for the logged-in user (no fixation)
    if lang:
        session["lang"] = lang
    login_user(Principal(user["id"], user["username"], user["role"], user["full_name"], user["org"]))
    return redirect(safe_next(form.next.data))


@bp.post("/logout")
@page_roles(*ALL_ROLES)
def logout() -> Any:
    EmptyForm()
    accounts.record(instance(), current_user.username, "auth.logout", current_user.username)
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("pages.index"))


@bp.get("/lang/<code>")
@public
def language(code: str) -> Any:
    if code in LANGUAGES:
        session["lang"] = code
    back = request.referrer
    if back and urlsplit(back).netloc == request.host:
        return redirect(safe_next(urlsplit(back).path))
    return redirect(url_for("pages.index"))


def _register_children() -> None:
    from web import pages_account, pages_admin, pages_sign, pages_verify

    bp.register_blueprint(pages_account.bp)
    bp.register_blueprint(pages_admin.bp)
    bp.register_blueprint(pages_sign.bp)
    bp.register_blueprint(pages_verify.bp)


_register_children()
