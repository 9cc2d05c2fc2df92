"""The OpenAPI document describes every API route the app serves, with the right methods; the API page reads it."""
from __future__ import annotations

import re
from typing import Any

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_api_route_is_documented(app: Any, client: Any) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    served = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.rule != "/api/docs":
            served.setdefault(_openapi_path(rule.rule), set()).update(rule.methods & METHODS)
    assert "/api/v1/health" in served and "/api/v1/certificates/{serial}" in served
    missing = [f"{m} {p}" for p, methods in sorted(served.items()) for m in sorted(methods)
               if m.lower() not in doc["paths"].get(p, {})]
    assert not missing, "API routes missing from web/openapi_spec.py: " + ", ".join(missing)


def test_documented_operations_are_complete(client: Any) -> None:
    doc = client.get("/api/openapi.json").get_json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["summary"] and op["responses"], (method, path)
            assert op["x-kyso-roles"], (method, path)
            for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(op).replace("'", '"')):
                assert ref in doc["components"]["schemas"], ref
            if "{serial}" in path:
                assert any(p["name"] == "serial" and p["in"] == "path" for p in op["parameters"])


def test_readable_api_page(client: Any) -> None:
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/v1/sign" in page and "/api/v1/verify" in page and "official, clerk" in page
    assert "Giao diện lập trình (API) của kyso" in page
