"""Helpers for the page tests: CSRF tokens from the page, logging in through the real form."""
from __future__ import annotations

import io
import re
from typing import Any

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_HIDDEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = _META.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client: Any, username: str, password: str, **env: Any) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base=env)


def logged_in(client: Any, username: str, password: str) -> Any:
    resp = login(client, username, password)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def post(client: Any, path: str, data: dict | None = None, *, page: str = "/", **kw: Any) -> Any:
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, page))
    return client.post(path, data=data, **kw)


def png(width: int = 120, height: int = 50, colour: tuple = (20, 40, 160, 255)) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(5, height - 10), (width // 2, 8), (width - 5, height - 12)], fill=colour, width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def audit_actions(instance: Any, target: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from ca.store.models import AuditEvent

    with instance.store.read() as s:
        rows = s.execute(select(AuditEvent.actor, AuditEvent.action).where(AuditEvent.target == target)
                         .order_by(AuditEvent.seq)).all()
    return [(a, b) for a, b in rows]
