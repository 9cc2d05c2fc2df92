"""Administration: users and roles, issue / search / revoke certificates, CRL-OCSP-TSA status, audit log.

Administrators change things; auditors may read the certificates, the status and the audit log.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ca.authority import cert_status, certificate_json
from ca.errors import KysoError, Unavailable
from web import accounts, oversight
from web.auth import instance, page_roles
from web.forms import EmptyForm, options, IssueForm, PasswordForm, RevokeForm, SearchForm, UserForm, UserUpdateForm
from web.page_text import message

bp = Blueprint("admin", __name__, url_prefix="/admin")
READERS = ("admin", "auditor")


@bp.get("/")
@page_roles(*READERS)
def home() -> Any:
    if current_user.role == "admin":
        return redirect(url_for(".users"))
    return redirect(url_for(".certificates"))


# -- users ---------------------------------------------------------------------------------------------
def _users_page(form: UserForm, status: int = 200, error: str | None = None) -> Any:
    return render_template("admin/users.html", users=accounts.list_users(instance()), form=form,
                           update_form=UserUpdateForm(), error=error), status


@bp.route("/users", methods=["GET", "POST"])
@page_roles("admin")
def users() -> Any:
    form = UserForm()
    if request.method == "GET":
        return _users_page(form)
    if not form.validate_on_submit():
        return _users_page(form, 400)
    try:
        accounts.create_user(instance(), current_user.username, username=form.username.data, role=form.role.data,
                             password=form.password.data, full_name=form.full_name.data, org=form.org.data)
    except KysoError as exc:
        return _users_page(form, 409 if exc.kind == "conflict" else 400, message(exc))
    flash(_("User %(name)s created.", name=form.username.data), "ok")
    return redirect(url_for(".users"))


@bp.route("/users/<username>", methods=["GET", "POST"])
@page_roles("admin")
def user(username: str) -> Any:
    inst = instance()
    target = accounts.get(inst, username)
    form = UserUpdateForm(data={"role": target["role"], "active": target["active"]} if request.method == "GET" else None)
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                accounts.update_user(inst, current_user.username, username, role=form.role.data,
                                     active=bool(form.active.data))
            except KysoError as exc:
                error = message(exc)
            else:
                flash(_("User %(name)s updated.", name=username), "ok")
                return redirect(url_for(".user", username=username))
        else:
            error = _("Check the form.")
    return render_template("admin/user.html", target=target, form=form, password_form=PasswordForm(),
                           error=error), 400 if error else 200


@bp.post("/users/<username>/password")
@page_roles("admin")
def user_password(username: str) -> Any:
    form = PasswordForm()
    if not form.validate_on_submit():
        flash(_("A password has at least 8 characters."), "error")
        return redirect(url_for(".user", username=username))
    accounts.set_password(instance(), current_user.username, username, form.password.data)
    flash(_("Password changed."), "ok")
    return redirect(url_for(".user", username=username))


# -- certificates --------------------------------------------------------------------------------------
@bp.get("/certificates")
@page_roles(*READERS)
def certificates() -> Any:
    form = SearchForm(request.args)
    auth = instance().authority
    rows = auth.search(status=form.status.data or None, q=form.q.data or None, limit=200)
    now = auth.clock()
    certs = [{"serial": r.serial, "cn": r.subject_cn, "profile": r.profile, "role": r.role,
              "owner": r.owner.username if r.owner else None, "not_after": r.not_after,
              "status": cert_status(r, now)} for r in rows]
    return render_template("admin/certificates.html", form=form, certs=certs)


def _subject(form: IssueForm) -> dict[str, Any]:
    subject: dict[str, Any] = {"CN": form.cn.data, "C": "VN"}
    for key, value in (("O", form.o.data), ("L", form.l.data), ("ST", form.st.data), ("title", form.title.data),
                       ("email", form.email.data)):
        if value and value.strip():
            subject[key] = value.strip()
    if form.ou.data and form.ou.data.strip():
        subject["OU"] = [form.ou.data.strip()]
    uids = [u.strip() for u in (form.uid.data or "").split(",") if u.strip()]
    if uids:
        subject["uid"] = uids
    return subject


@bp.route("/certificates/new", methods=["GET", "POST"])
@page_roles("admin")
def issue() -> Any:
    inst = instance()
    form = IssueForm()
    form.owner.choices = options([("", "—")] + [(u["username"], f"{u['username']} — {u['full_name'] or ''}")
                                                for u in accounts.list_users(inst) if u["active"]])
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            keygen = form.mode.data == "keygen"
            try:
                issued = inst.authority.issue(profile=form.profile.data, subject=_subject(form),
                                              csr=None if keygen else (form.csr.data or ""),
                                              keygen=form.algorithm.data if keygen else None,
                                              owner=form.owner.data or None, actor=current_user.username)
            except KysoError as exc:
                error = message(exc)
            else:
                flash(_("Certificate %(serial)s issued.", serial=issued.serial), "ok")
                return redirect(url_for(".certificate", serial=issued.serial))
        else:
            error = _("Check the form.")
    return render_template("admin/issue.html", form=form, error=error), 400 if error else 200


@bp.get("/certificates/<serial>")
@page_roles(*READERS)
def certificate(serial: str) -> Any:
    auth = instance().authority
    cert = certificate_json(auth.get(serial), auth.clock())
    return render_template("admin/certificate.html", cert=cert, form=RevokeForm())


def _revoke(serial: str, reason: str) -> Any:
    try:
        from ca import revocation
    except ImportError:
        raise Unavailable("Revocation is not installed in this build", "Bản cài đặt này chưa có chức năng thu hồi",
                          code="revocation_unavailable") from None
    return revocation.revoke(instance().authority, serial, reason, actor=current_user.username)


@bp.post("/certificates/<serial>/revoke")
@page_roles("admin")
def revoke(serial: str) -> Any:
    form = RevokeForm()
    auth = instance().authority
    row = auth.get(serial)
    if not form.validate_on_submit():
        flash(_("Choose a reason."), "error")
        return redirect(url_for(".certificate", serial=row.serial))
    _revoke(row.serial, form.reason.data)
    flash(_("Certificate %(serial)s revoked.", serial=row.serial), "ok")
    return redirect(url_for(".certificate", serial=row.serial))


# -- status and audit ----------------------------------------------------------------------------------
@bp.get("/status")
@page_roles(*READERS)
def status() -> Any:
    endpoints = {rule.rule for rule in current_app.url_map.iter_rules()}
    return render_template("admin/status.html", st=oversight.pki_status(instance(), endpoints))


@bp.get("/audit")
@page_roles(*READERS)
def audit() -> Any:
    inst = instance()
    try:
        before = int(request.args.get("before") or 0) or None
    except ValueError:
        before = None
    q = (request.args.get("q") or "").strip() or None
    events = oversight.audit_events(inst, limit=100, before=before, q=q)
    return render_template("admin/audit.html", events=events, check=oversight.audit_verify(inst), q=q or "",
                           next_before=events[-1]["seq"] if len(events) == 100 else None, form=EmptyForm())
