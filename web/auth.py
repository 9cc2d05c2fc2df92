"""Who is calling, and may they? Two doors, kept apart on purpose:

* the JSON API (``/api/v1``) authenticates **only** by ``Authorization: Bearer <token>`` and ignores the
  session cookie, so it needs no CSRF protection;
* pages authenticate by a Flask-Login session cookie and every form carries a CSRF token (Flask-WTF).

Role checks are decorators that also record the roles on the view (``view._kyso_roles``) so the
authorisation-matrix test can enumerate every route.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from flask import current_app, g, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user

from ca.errors import Forbidden, Unauthorized, Unavailable
from ca.users import token_owner

PUBLIC = ("public",)
login_manager = LoginManager()


@dataclass
class Principal(UserMixin):
    """A detached view of a user for one request (never the ORM row)."""

    id: int
    username: str
    role: str
    full_name: str | None
    org: str | None

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def of(cls, user: Any) -> "Principal":
        return cls(user.id, user.username, user.role, user.full_name, user.org)


def instance() -> Any:
    return current_app.extensions["kyso"]


@login_manager.user_loader
def _load_user(user_id: str) -> Principal | None:
    from ca.store.models import User

    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    try:
        with instance().store.read() as s:
            user = s.get(User, uid)
            if user is None or not user.active:
                return None
            return Principal.of(user)
    except Unavailable as exc:
        # Never raise from here: flask_login loads the user lazily, possibly first while an error page renders
        # (its navigation bar), where an exception becomes a bare 500. The session's user is treated as not
        # loaded; ``page_roles`` answers the recorded failure (503) instead of sending them to the login page.
        g.kyso_user_unavailable = exc
        return None


def principal_for_header(inst: Any, header: str) -> Principal | None:
    """The caller named by an ``Authorization`` header value: ``None`` when there is none, ``Unauthorized``
    when it is not a valid bearer token. Shared by the Flask views and the issuance fast path (web/api.py)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'", "Dùng 'Authorization: Bearer <mã truy cập>'",
                           code="invalid_token")
    return Principal(*token_owner(inst.store, token.strip()))


def require_role(principal: Principal | None, roles: tuple[str, ...]) -> Principal:
    if principal is None:
        raise Unauthorized()
    if principal.role not in roles:
        raise Forbidden(f"This needs the role {' or '.join(roles)}",
                        f"Thao tác này cần vai trò {' hoặc '.join(roles)}")
    return principal


def bearer_principal() -> Principal | None:
    """The API caller, from the bearer token; ``None`` when no Authorization header was sent."""
    if "api_principal" not in g:
        g.api_principal = principal_for_header(instance(), request.headers.get("Authorization", ""))
    return g.api_principal


def api_roles(*roles: str) -> Callable:
    """API view decorator: bearer token whose user has one of ``roles``."""
    def deco(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.principal = require_role(bearer_principal(), roles)
            return fn(*args, **kwargs)

        wrapper._kyso_roles = roles  # type: ignore[attr-defined]
        return wrapper

    return deco


def public(fn: Callable) -> Callable:
    fn._kyso_roles = PUBLIC  # type: ignore[attr-defined]
    return fn


def page_roles(*roles: str) -> Callable:
    """Page view decorator: a logged-in session whose user has one of ``roles``."""
    def deco(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if "kyso_user_unavailable" in g:  # logged in, but the database cannot say who they are
                    raise g.kyso_user_unavailable
                return redirect(url_for("pages.login", next=request.full_path))
            if current_user.role not in roles:
                raise Forbidden()
            g.principal = current_user
            return fn(*args, **kwargs)

        wrapper._kyso_roles = roles  # type: ignore[attr-defined]
        return wrapper

    return deco


def actor() -> str:
    principal = g.get("principal")
    return principal.username if principal is not None else "anonymous"
