"""My account: my certificates, my signature image, TOTP enrolment (QR code), my API tokens."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ca.authority import cert_status
from ca.errors import Forbidden, KysoError, NotFound
from web import accounts
from web.auth import instance, page_roles
from web.forms import EmptyForm, SignatureImageForm, TokenForm, TotpForm
from web.page_text import ALL_ROLES, message

bp = Blueprint("account", __name__, url_prefix="/account")


def _pending_secret(nonce: str) -> str:
    """The TOTP secret offered to this user: derived from the server key, the user and a nonce, so that no
    secret has to be kept in the cookie or the database before the user confirms it."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    mac = hmac.new(key, f"kyso-totp-enrol|{current_user.id}|{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:20]).decode()


def _page(status: int = 200, *, new_token: str | None = None, token_form: TokenForm | None = None,
          image_form: SignatureImageForm | None = None) -> Any:
    inst = instance()
    me = accounts.get(inst, current_user.username)
    now = inst.authority.clock()
    certs = [{"serial": c.serial, "cn": c.subject_cn, "profile": c.profile, "not_after": c.not_after,
              "status": cert_status(c, now), "hsm": bool(c.key_label)}
             for c in inst.authority.search(owner_id=me["id"], limit=50)]
    return render_template("account/home.html", me=me, certs=certs, tokens=accounts.list_tokens(inst, me["username"]),
                           token_form=token_form or TokenForm(), image_form=image_form or SignatureImageForm(),
                           revoke_form=EmptyForm(), new_token=new_token,
                           image_kind=accounts.IMAGE_KINDS.get(me["role"])), status


@bp.get("/")
@page_roles(*ALL_ROLES)
def home() -> Any:
    return _page()


@bp.route("/totp", methods=["GET", "POST"])
@page_roles(*ALL_ROLES)
def totp() -> Any:
    form = TotpForm()
    error = None
    status = 200
    if request.method == "POST":
        nonce = request.form.get("nonce", "")
        if form.validate_on_submit() and len(nonce) == 32:
            try:
                accounts.enrol_totp(instance(), current_user.username, _pending_secret(nonce), form.code.data,
                                    form.password.data)
            except KysoError as exc:
                error, status = message(exc), 400
            else:
                flash(_("Your authenticator app is enrolled. Use its codes to confirm each signing."), "ok")
                return redirect(url_for(".home"))
        else:
            error, status = _("Enter the 6-digit code and your password."), 400
    else:
        nonce = secrets.token_hex(16)
    secret = _pending_secret(nonce)
    uri = accounts.totp_uri(secret, current_user.username)
    qr = "data:image/png;base64," + base64.b64encode(accounts.qr_png(uri)).decode()
    return render_template("account/totp.html", form=form, nonce=nonce, secret=secret, qr=qr, error=error,
                           enrolled=accounts.get(instance(), current_user.username)["totp"]), status


def _image_kind() -> str:
    kind = accounts.IMAGE_KINDS.get(current_user.role)
    if kind is None:
        raise Forbidden("Only officials (signature) and clerks (agency seal) keep an image",
                        "Chỉ cán bộ ký (ảnh chữ ký) và văn thư (ảnh con dấu) mới lưu ảnh", code="no_image_for_role")
    return kind


@bp.post("/image")
@page_roles(*ALL_ROLES)
def image_upload() -> Any:
    form = SignatureImageForm()
    kind = _image_kind()
    upload = request.files.get("image")
    data = upload.read(accounts.IMAGE_MAX + 1) if upload else b""
    try:
        accounts.set_image(instance(), current_user.username, kind, data)
    except KysoError as exc:
        form.image.errors = [message(exc)]
        return _page(400, image_form=form)
    flash(_("Signature image saved.") if kind == "signature" else _("Seal image saved."), "ok")
    return redirect(url_for(".home"))


@bp.get("/image.png")
@page_roles(*ALL_ROLES)
def image() -> Any:
    data = accounts.image(instance(), current_user.username, _image_kind())
    if data is None:
        raise NotFound("You have not uploaded an image yet", "Bạn chưa tải ảnh lên", code="image_missing")
    resp = Response(data, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.post("/tokens")
@page_roles(*ALL_ROLES)
def token_create() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(400, token_form=form)
    token = accounts.create_token(instance(), current_user.username, form.name.data)
    return _page(new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@page_roles(*ALL_ROLES)
def token_revoke(token_id: int) -> Any:
    EmptyForm()
    accounts.revoke_token(instance(), current_user.username, token_id)
    flash(_("The API token is revoked."), "ok")
    return redirect(url_for(".home"))
