"""``GET /api/openapi.json`` (the OpenAPI document, from web/openapi_spec.py) and ``GET /api/docs`` (the same,
readable by people)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, render_template

from web.auth import instance, public
from web.openapi_spec import document

bp = Blueprint("openapi", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/api/openapi.json")
@public
def spec() -> Any:
    resp = jsonify(document(instance().settings.base_url))
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/api/docs")
@public
def docs() -> Any:
    doc = document(instance().settings.base_url)
    ops = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {})
            fields = []
            for media, content in body.items():
                for name, schema in content.get("schema", {}).get("properties", {}).items():
                    fields.append({"name": name, "media": media, "type": schema.get("type") or schema.get("enum")
                                   or schema.get("$ref", ""), "description": schema.get("description", "")})
            ops.append({"method": method.upper(), "path": path, "summary": op["summary"],
                        "description": op.get("description", ""), "roles": op.get("x-kyso-roles", ""),
                        "tag": op["tags"][0], "fields": fields,
                        "params": [p["name"] for p in op.get("parameters", [])],
                        "responses": {code: r.get("description", "") for code, r in op["responses"].items()}})
    return render_template("api_docs.html", ops=ops, info=doc["info"])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
