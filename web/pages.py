"""HTML pages (Vietnamese first). The start page; login and the rest come with the web issue."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web.auth import instance, public

bp = Blueprint("pages", __name__)


@bp.get("/")
@public
def index() -> Any:
    inst = instance()
    try:
        initialised = inst.authority.is_initialised()
    except Exception:  # noqa: BLE001 - the start page must render even when the database is down
        initialised = False
    return render_template("index.html", initialised=initialised)


@bp.get("/login")
@public
def login() -> Any:
    return render_template("index.html", initialised=True)
