"""The authorisation matrix: EVERY route registered in the app × every method × (anonymous, admin, official,
clerk, auditor), asserting what the route's declared roles (``_kyso_roles``, set by web/auth.py's decorators)
promise. A route without a declaration fails here, so no view can be added without a role check.

Outcome rules: a caller the route admits never meets the role wall (no 401, no 403 "forbidden", no redirect to
the login page); a caller it does not admit always does (API: 401 anonymous, 403 "forbidden" wrong role; pages:
redirect to /login anonymous, 403 "forbidden" wrong role). Nobody ever gets a 500. Requests carry a valid CSRF
token and empty or placeholder input, so they stop at validation after the role check.
"""
from __future__ import annotations

from typing import Any

import pytest
from werkzeug.routing import IntegerConverter, PathConverter

from tests.web_support import csrf_token

ROLES = ("admin", "official", "clerk", "auditor")
PRINCIPALS = ("anonymous",) + ROLES
SKIP_METHODS = {"HEAD", "OPTIONS"}


def _sample_path(rule: Any) -> str:
    values = {}
    for name, conv in rule._converters.items():
        if isinstance(conv, IntegerConverter):
            values[name] = 987654321  # no such row: the request stops after the role check
        elif isinstance(conv, PathConverter):
            values[name] = "x/y"
        else:
            values[name] = "0a"
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value))
        for conv_name in ("int", "string", "path", "any", "uuid", "float"):
            path = path.replace(f"<{conv_name}:{name}>", str(value))
    assert "<" not in path, f"cannot build a sample URL for {rule.rule}"
    return path


def _routes(app: Any) -> list[tuple[Any, str, str, tuple[str, ...] | None]]:
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "_kyso_roles", None)
        for method in sorted(rule.methods - SKIP_METHODS):
            out.append((rule, method, _sample_path(rule), roles))
    return out


@pytest.fixture(scope="module")
def principals(app: Any, instance: Any) -> dict[str, dict[str, Any]]:
    from sqlalchemy import select

    from ca.store.models import User
    from tests.conftest import new_user

    found: dict[str, dict[str, Any]] = {"anonymous": {"token": None, "user_id": None}}
    for role in ROLES:
        name, token = new_user(instance, role)
        with instance.store.read() as s:
            uid = s.execute(select(User.id).where(User.username == name)).scalar_one()
        found[role] = {"token": token, "user_id": uid}
    return found


def test_every_route_declares_its_roles(app: Any) -> None:
    missing = sorted({f"{rule.rule} ({rule.endpoint})" for rule, _, _, roles in _routes(app) if roles is None})
    assert not missing, "routes without a role declaration (use web.auth public/api_roles/page_roles): " + \
        ", ".join(missing)


def test_declared_roles_follow_the_policy(app: Any) -> None:
    problems = []
    for rule, method, _, roles in _routes(app):
        if roles is None:
            continue
        unknown = set(roles) - set(ROLES) - {"public"}
        if unknown:
            problems.append(f"{method} {rule.rule}: unknown roles {unknown}")
        if rule.rule.startswith("/admin") and ("public" in roles or {"official", "clerk"} & set(roles)):
            problems.append(f"{method} {rule.rule}: administration open to {roles}")
        if rule.rule.startswith(("/account", "/sign")) and "public" in roles:
            problems.append(f"{method} {rule.rule}: personal page is public")
        if rule.rule.startswith("/api/v1/certificates") and method != "GET" and set(roles) != {"admin"}:
            problems.append(f"{method} {rule.rule}: certificate changes are for admins only, not {roles}")
    assert not problems, "\n".join(problems)


def _request(app: Any, who: dict[str, Any], method: str, path: str, api: bool) -> Any:
    client = app.test_client()
    headers = {"Accept": "application/json"}
    if api:
        if who["token"]:
            headers["Authorization"] = f"Bearer {who['token']}"
    else:
        if who["user_id"] is not None:
            with client.session_transaction() as sess:
                sess["_user_id"] = str(who["user_id"])
                sess["_fresh"] = True
        if method != "GET":
            headers["X-CSRFToken"] = csrf_token(client, "/")
    return client.open(path, method=method, headers=headers, data={} if method != "GET" else None)


def _role_wall(resp: Any, api: bool) -> str | None:
    """Which wall the response shows, if any: 'login', 'unauthorized', 'forbidden'."""
    if resp.status_code in (301, 302, 303, 307, 308) and "/login" in resp.headers.get("Location", ""):
        return "login"
    body = resp.get_json(silent=True) or {}
    if resp.status_code == 401:
        return "unauthorized"
    if resp.status_code == 403 and body.get("error") == "forbidden":
        return "forbidden"
    return None


@pytest.mark.parametrize("who", PRINCIPALS)
def test_authorisation_matrix(app: Any, principals: dict[str, Any], who: str) -> None:
    failures = []
    checked = 0
    for rule, method, path, roles in _routes(app):
        if roles is None:
            continue  # reported by test_every_route_declares_its_roles
        api = rule.rule.startswith("/api/")
        resp = _request(app, principals[who], method, path, api)
        checked += 1
        wall = _role_wall(resp, api)
        admitted = "public" in roles or who in roles
        where = f"{who:9} {method:6} {path} (declared {','.join(roles)}) → {resp.status_code}"
        if resp.status_code == 500:
            failures.append(f"{where}: server error")
        elif admitted and wall is not None:
            failures.append(f"{where}: admitted caller stopped by the {wall} wall")
        elif not admitted:
            expected = ("unauthorized" if api else "login") if who == "anonymous" else "forbidden"
            if wall != expected:
                failures.append(f"{where}: expected the {expected} wall, got {wall or 'through'}")
    assert checked > 20
    assert not failures, "\n".join(failures)
