"""Account services behind the pages: log in, users and roles, TOTP enrolment, images, API tokens.

Each state change runs in one ``store.write()`` transaction together with its audit record; views call these
functions and only parse and serialise. Functions return plain dicts, never ORM rows.
"""
from __future__ import annotations

import io
from typing import Any

import pyotp

from ca import users as ca_users
from ca.store.models import ApiToken, User

IMAGE_MAX = 2 * 1024 * 1024


def _user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "org": u.org, "role": u.role,
            "active": u.active, "totp": bool(u.totp_secret), "signature_image": u.signature_image is not None,
            "seal_image": u.seal_image is not None,
            "created_at": u.created_at}


def login(inst: Any, username: str, password: str, *, address: str | None = None) -> dict[str, Any]:
    """Check the password; success and failure are both audited and committed (``ca.users.login``)."""
    with inst.store.write() as s:
        return _user_dict(ca_users.login(s, username, password, inst.authority, address=address))


def record(inst: Any, actor: str, action: str, target: str | None = None, details: dict | None = None) -> None:
    with inst.store.write() as s:
        inst.authority.record(s, actor, action, target, details or {})


def get(inst: Any, username: str) -> dict[str, Any]:
    with inst.store.read() as s:
        return _user_dict(ca_users.get_user(s, username))


def list_users(inst: Any) -> list[dict[str, Any]]:
    with inst.store.read() as s:
        return [_user_dict(u) for u in ca_users.list_users(s)]


def create_user(inst: Any, actor: str, *, username: str, role: str, password: str, full_name: str | None,
                org: str | None) -> dict[str, Any]:
    with inst.store.write() as s:
        user = ca_users.create_user(s, (username or "").strip(), role, password, full_name=full_name or None,
                                    org=org or None, clock=inst.authority.clock)
        inst.authority.record(s, actor, "user.add", user.username, {"role": role})
        return _user_dict(user)


def update_user(inst: Any, actor: str, username: str, *, role: str, active: bool) -> dict[str, Any]:
    ca_users.check_role(role)
    with inst.store.write() as s:
        user, changes = ca_users.update_user(s, actor, username, role=role, active=active)
        if changes:
            inst.authority.record(s, actor, "user.update", user.username, changes)
        return _user_dict(user)


def set_password(inst: Any, actor: str, username: str, password: str) -> None:
    ca_users.check_password_strength(password)
    with inst.store.write() as s:
        user = ca_users.set_password(s, username, password)
        inst.authority.record(s, actor, "user.password", user.username, {})


# -- TOTP enrolment ------------------------------------------------------------------------------------
def new_totp_secret() -> str:
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str, issuer: str = "kyso") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_png(text: str) -> bytes:
    import qrcode

    img = qrcode.make(text, box_size=6, border=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def enrol_totp(inst: Any, username: str, secret: str, code: str, password: str) -> None:
    """Store ``secret`` once the user proves both a code of the new authenticator and their password."""
    with inst.store.write() as s:
        ca_users.enrol_totp(s, username, password, secret, code, clock=inst.authority.clock)
        inst.authority.record(s, username, "user.totp_enrol", username, {})


# -- signature and seal images -------------------------------------------------------------------------
IMAGE_KINDS = {"official": "signature", "clerk": "seal"}  # who keeps which image (the signing service decides)


def set_image(inst: Any, username: str, kind: str, data: bytes) -> None:
    """Checked, stored and audited by the signing service (the one place images are accepted)."""
    from signer import service

    service.set_image(inst, username, kind, data)


def image(inst: Any, username: str, kind: str) -> bytes | None:
    with inst.store.read() as s:
        user = ca_users.get_user(s, username)
        return user.signature_image if kind == "signature" else user.seal_image


# -- API tokens ----------------------------------------------------------------------------------------
def _token_dict(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "prefix": t.prefix, "name": t.name, "created_at": t.created_at,
            "last_used_at": t.last_used_at, "revoked": t.revoked}


def list_tokens(inst: Any, username: str) -> list[dict[str, Any]]:
    with inst.store.read() as s:
        return [_token_dict(t) for t in ca_users.list_tokens(s, username)]


def create_token(inst: Any, username: str, name: str | None) -> str:
    name = (name or "").strip()[:100] or None
    with inst.store.write() as s:
        token = ca_users.create_token(s, username, name, clock=inst.authority.clock)
        inst.authority.record(s, username, "token.create", username, {"prefix": token[:12], "name": name})
    return token


def revoke_token(inst: Any, username: str, token_id: int) -> None:
    with inst.store.write() as s:
        row = ca_users.revoke_token(s, username, token_id)
        if row is not None:
            inst.authority.record(s, username, "token.revoke", username, {"prefix": row.prefix})
