"""Users, roles, passwords (argon2), API tokens (stored as SHA-256) and TOTP signing activation."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ca.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from ca.store.models import ApiToken, User
from ca.store.prepared import Prepared
from ca.timeutil import Clock, utcnow

ROLES = ("admin", "official", "clerk", "auditor")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
TOKEN_PREFIX = "kyso_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput("The password must have at least 8 characters", "Mật khẩu phải có ít nhất 8 ký tự",
                           code="weak_password")


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidInput("A user name has 2–64 characters: lowercase letters, digits, '.', '_' or '-'",
                           "Tên đăng nhập gồm 2–64 ký tự: chữ thường, chữ số, '.', '_' hoặc '-'",
                           code="invalid_username")
    return username


def create_user(session: Session, username: str, role: str, password: str, *, full_name: str | None = None,
                org: str | None = None, totp_secret: str | None = None, clock: Clock = utcnow) -> User:
    validate_username(username)
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r} (use one of {', '.join(ROLES)})",
                           f"Vai trò không hợp lệ {role!r} (dùng: {', '.join(ROLES)})", code="invalid_role")
    check_password_strength(password)
    if totp_secret is not None:
        totp_secret = totp_secret.replace(" ", "").upper()
        try:
            pyotp.TOTP(totp_secret).now()
            if len(totp_secret) < 16:
                raise ValueError
        except Exception:  # noqa: BLE001 - pyotp raises several kinds for bad base32
            raise InvalidInput("The TOTP secret must be base32 with at least 16 characters",
                               "Khóa TOTP phải là base32, tối thiểu 16 ký tự", code="invalid_totp_secret") from None
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"The user {username!r} already exists", f"Người dùng {username!r} đã tồn tại",
                       code="user_exists")
    user = User(username=username, role=role, password_hash=hash_password(password), full_name=full_name,
                org=org, totp_secret=totp_secret, created_at=clock(), active=True, failed_logins=0)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"No user {username!r}", f"Không có người dùng {username!r}", code="user_not_found")
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by user name."""
    return list(session.execute(select(User).order_by(User.username)).scalars())


def count_active_admins(session: Session) -> int:
    return session.execute(select(func.count()).select_from(User)
                           .where(User.role == "admin", User.active.is_(True))).scalar_one()


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}", f"Vai trò không hợp lệ {role!r}", code="invalid_role")


def update_user(session: Session, actor: str, username: str, *, role: str,
                active: bool) -> tuple[User, dict[str, list[Any]]]:
    """Set ``username``'s role and active flag on behalf of ``actor``; returns the user and the changes
    (``{"role": [old, new], "active": [old, new]}``, only what changed) for the caller to audit. Nobody removes
    their own administrator rights, and the last active administrator stays."""
    check_role(role)
    user = get_user(session, username)
    if user.username == actor and (role != "admin" or not active):
        raise Forbidden("You cannot remove your own administrator rights",
                        "Bạn không thể tự bỏ quyền quản trị của mình", code="self_demotion")
    if user.role == "admin" and (role != "admin" or not active):
        if count_active_admins(session) <= 1:
            raise Forbidden("The last administrator must stay", "Phải còn ít nhất một quản trị viên",
                            code="last_admin")
    changes: dict[str, list[Any]] = {}
    if user.role != role:
        changes["role"] = [user.role, role]
        user.role = role
    if user.active != active:
        changes["active"] = [user.active, active]
        user.active = active
    return user, changes


def set_password(session: Session, username: str, password: str) -> User:
    check_password_strength(password)
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    return user


def enrol_totp(session: Session, username: str, password: str, secret: str, code: Any, *,
               clock: Clock = utcnow) -> User:
    """Store a new TOTP ``secret`` for ``username`` once they prove a current code of the new authenticator and
    their password. The code's time step counts as used (RFC 6238 §5.2): it cannot confirm a signing afterwards."""
    code = str(code or "").strip().replace(" ", "")
    step = _matching_step(secret, code, clock()) if re.fullmatch(r"\d{6}", code) else None
    if step is None:
        raise InvalidInput("The code does not match the new authenticator", "Mã không khớp với ứng dụng vừa thêm",
                           code="otp_invalid")
    authenticate(session, username, password)
    user = get_user(session, username)
    user.totp_secret = secret
    user.totp_last_step = step
    return user


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The 30 s time step within ±1 of ``now`` (clock drift) whose code is ``code``, if any."""
    totp = pyotp.TOTP(secret)
    step_now = int(now.timestamp() // totp.interval)
    for step in (step_now, step_now - 1, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


# Repeated failed logins lock the account for a while, in the database, so the lock holds on every node and
# worker (the per-worker, in-memory throttle of web/security.py alone would give N workers N times the budget).
LOCK_AFTER_FAILURES = 10
LOCK_MINUTES = 15


def authenticate(session: Session, username: str, password: str, *, clock: Clock = utcnow) -> User:
    """Check a password. The same error for an unknown user and a wrong password; a locked account is refused
    without looking at the password until the lock expires."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    bad = Unauthorized("Wrong user name or password", "Sai tên đăng nhập hoặc mật khẩu", code="bad_credentials")
    if user is None or not user.active:
        _hasher.hash("timing-equaliser")
        raise bad
    now = clock()
    if user.locked_until is not None and user.locked_until > now:
        from ca.timeutil import iso_vn

        until = iso_vn(user.locked_until)
        raise Unauthorized(f"Too many failed logins: the account is locked until {until}",
                           f"Đăng nhập sai quá nhiều lần: tài khoản bị khóa đến {until}", code="account_locked")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER_FAILURES:
            user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        raise bad from None
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def login(session: Session, username: str, password: str, authority: Any, *,
          address: str | None = None) -> User:
    """Log a person in: check the password and audit the outcome (``auth.login`` / ``auth.login_failed``).

    Success: the event is added to ``session``'s transaction, which the caller commits. Failure: the event and
    the failed-login count are **committed here**, then ``Unauthorized`` is raised — an error leaving a
    ``store.write()`` block rolls its transaction back, and a failed login must stay on record. The same error
    for an unknown user and a wrong password."""
    name = (username or "").strip().lower()[:64] if isinstance(username, str) else ""
    try:
        if not name or not isinstance(password, str) or not password:
            raise Unauthorized("Wrong user name or password", "Sai tên đăng nhập hoặc mật khẩu",
                               code="bad_credentials")
        user = authenticate(session, name, password, clock=authority.clock)
    except Unauthorized as exc:
        details = {"address": address}
        if exc.code == "account_locked" or _just_locked(session, name, authority.clock()):
            details["locked"] = True
        authority.record(session, name or "anonymous", "auth.login_failed", name or None, details)
        session.commit()
        raise
    authority.record(session, user.username, "auth.login", user.username, {"address": address})
    return user


def _just_locked(session: Session, name: str, now: dt.datetime) -> bool:
    user = session.execute(select(User).where(User.username == name)).scalar_one_or_none() if name else None
    return bool(user is not None and user.locked_until is not None and user.locked_until > now)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, username: str, name: str | None = None, *, clock: Clock = utcnow) -> str:
    """A new API token for ``username``; returned once, stored only as its SHA-256."""
    user = get_user(session, username)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), prefix=token[:12], name=name,
                         created_at=clock(), revoked=False))
    session.flush()
    return token


def list_tokens(session: Session, username: str) -> list[ApiToken]:
    """``username``'s API tokens, newest first (revoked ones included)."""
    user = get_user(session, username)
    return list(session.execute(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id.desc())).scalars())


def revoke_token(session: Session, username: str, token_id: int) -> ApiToken | None:
    """Revoke ``username``'s token ``token_id``: the token if this call revoked it, None if it already was."""
    user = get_user(session, username)
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such API token", "Không có mã truy cập này", code="token_not_found")
    if row.revoked:
        return None
    row.revoked = True
    return row


_TOKEN_OWNER = Prepared(select(User.id, User.username, User.role, User.full_name, User.org)
                        .join(ApiToken, ApiToken.user_id == User.id)
                        .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked.is_(False),
                               User.active.is_(True)))


def token_owner(store: Any, token: str) -> tuple[int, str, str, str | None, str | None]:
    """``(id, username, role, full_name, org)`` of the active user owning the unrevoked API token ``token``.

    One prepared query on a pooled connection, no ORM objects: this runs on every API call, including the
    issuance fast path (web/api.py)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("Invalid API token", "Mã truy cập API không hợp lệ", code="invalid_token")
    row = store.fetch_one(_TOKEN_OWNER, {"token_hash": _token_hash(token)})
    if row is None:
        raise Unauthorized("Invalid API token", "Mã truy cập API không hợp lệ", code="invalid_token")
    return tuple(row)  # type: ignore[return-value]


def verify_totp(session: Session, user: User, code: Any, *, clock: Clock = utcnow) -> None:
    """Signing activation: the user's current TOTP code, each code usable once (RFC 6238 §5.2)."""
    if not user.totp_secret:
        raise Forbidden("Enrol a TOTP authenticator before signing", "Hãy đăng ký ứng dụng TOTP trước khi ký",
                        code="totp_not_enrolled")
    code = str(code or "").strip()
    if not re.fullmatch(r"\d{6}", code):
        raise Forbidden("A 6-digit TOTP code is required to sign", "Cần mã TOTP 6 chữ số để ký", code="otp_required")
    step = _matching_step(user.totp_secret, code, clock())
    if step is None:
        raise Forbidden("Wrong TOTP code", "Mã TOTP không đúng", code="otp_invalid")
    if user.totp_last_step is not None and step <= user.totp_last_step:
        raise Forbidden("This TOTP code was already used; wait for the next one",
                        "Mã TOTP này đã được dùng; hãy chờ mã tiếp theo", code="otp_reused")
    user.totp_last_step = step
