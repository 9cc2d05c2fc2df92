"""``POST /api/v1/certificates`` is answered by ``web.api.IssueFastPath`` ahead of Flask (issue #3's throughput).
The fast path must answer exactly what the documented Flask view answers — same statuses, error codes, messages in
both languages, security headers — and keep what only it needs: a body cap (413, connection closed) and keep-alive
behaviour under the real gunicorn server."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.test import Client

from ca.store.models import AuditEvent, Certificate
from tests.conftest import OFFICIAL_SUBJECT
from tests.support import auth
from tests.test_ca_bad_input import csr_pem
from web.api import MAX_ISSUE_BODY, IssueFastPath
from web.wsgi import MAX_DRAIN
from web.security import SECURITY_HEADERS

URL = "/api/v1/certificates"


def counts(instance: Any) -> tuple[int, int]:
    with instance.store.read() as s:
        return (s.execute(select(func.count()).select_from(Certificate)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def cases(admin_token: str, auditor_token: str) -> dict[str, dict]:
    good = {"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem()}
    js = {"Content-Type": "application/json"}
    return {
        "no token": {"headers": js, "data": json.dumps(good)},
        "not a kyso token": {"headers": {**js, **auth("abc")}, "data": json.dumps(good)},
        "Basic auth": {"headers": {**js, "Authorization": "Basic YWRtaW46eA=="}, "data": json.dumps(good)},
        "auditor": {"headers": {**js, **auth(auditor_token)}, "data": json.dumps(good)},
        "form body": {"headers": {**auth(admin_token), "Content-Type": "application/x-www-form-urlencoded"},
                      "data": "profile=official"},
        "broken JSON": {"headers": {**js, **auth(admin_token)}, "data": "{not json"},
        "JSON array": {"headers": {**js, **auth(admin_token)}, "data": "[1, 2]"},
        "unknown profile, in English": {"headers": {**js, **auth(admin_token), "Accept-Language": "en-GB,en;q=0.9"},
                                        "data": json.dumps(dict(good, profile="bộ-trưởng"))},
        "invalid CCCD": {"headers": {**js, **auth(admin_token)},
                         "data": json.dumps(dict(good, subject=dict(OFFICIAL_SUBJECT, uid=["CCCD:123"])))},
        "vendor JSON type": {"headers": {**auth(admin_token), "Content-Type": "application/vnd.kyso+json"},
                             "data": json.dumps(good)},
        "issued": {"headers": {**js, **auth(admin_token)}, "data": json.dumps(good)},
    }


def test_fast_path_answers_exactly_as_the_flask_view(app, admin_token, make_user, instance) -> None:  # noqa: ANN001
    assert isinstance(app.wsgi_app, IssueFastPath)
    fast = Client(app)
    flask_only = Client(app.wsgi_app.wsgi_app)  # the same app without the fast path: the documented view answers
    _, auditor = make_user("auditor")
    for name, request in cases(admin_token, auditor).items():
        a = fast.post(URL, **request)
        b = flask_only.post(URL, **request)
        assert a.status_code == b.status_code, (name, a.status_code, b.status_code, a.get_data(as_text=True))
        ja, jb = a.json, b.json
        if a.status_code == 201:
            assert ja.keys() == jb.keys() and ja["status"] == jb["status"] == "valid" and ja["serial"] != jb["serial"]
        else:
            assert ja == jb, name
        for header, value in SECURITY_HEADERS:
            assert a.headers.get(header) == b.headers.get(header) == value, (name, header)
        assert a.headers["Content-Type"].startswith("application/json")
    english = fast.post(URL, **cases(admin_token, auditor)["unknown profile, in English"]).json
    assert english["message"] == english["message_en"] != english["message_vi"]


def test_an_oversized_body_is_413_and_stores_nothing(client, admin_token, instance) -> None:  # noqa: ANN001
    before = counts(instance)
    body = json.dumps({"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": "A" * (MAX_ISSUE_BODY + 1)})
    resp = client.post(URL, headers=auth(admin_token), data=body, content_type="application/json")
    assert resp.status_code == 413 and resp.get_json()["error"] == "request_too_large"
    assert "Connection" not in resp.headers  # drained (≤ MAX_DRAIN): the connection stays usable
    huge = client.post(URL, headers=auth(admin_token), data=b"{" + b" " * (MAX_DRAIN + 1) + b"}",
                       content_type="application/json")
    assert huge.status_code == 413 and huge.headers["Connection"] == "close"  # not read: the connection goes
    assert counts(instance) == before


@pytest.mark.parametrize("length,code", [("lots", "invalid_json"), ("-5", "invalid_json")])
def test_a_nonsense_content_length_stores_nothing(client, admin_token, instance, length, code) -> None:  # noqa: ANN001
    """A Content-Length that is not a non-negative number (RFC 9110 §8.6) is an empty, so non-JSON, body: a
    negative one must never reach ``stream.read(-5)``, which reads without a bound."""
    before = counts(instance)
    resp = client.post(URL, headers=auth(admin_token), data=b"{}", content_type="application/json",
                       environ_overrides={"CONTENT_LENGTH": length})
    assert resp.status_code == 400 and resp.get_json()["error"] == code, resp.get_data(as_text=True)
    assert counts(instance) == before


def test_keep_alive_issuance_under_gunicorn(live_server, admin_token, instance) -> None:  # noqa: ANN001
    before = counts(instance)
    with requests.Session() as http:  # one kept-alive connection for several issuances
        serials = []
        for _ in range(3):
            resp = http.post(live_server.url + URL, headers=auth(admin_token), timeout=30,
                             json={"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem()})
            assert resp.status_code == 201, resp.text
            serials.append(resp.json()["serial"])
        too_big = http.post(live_server.url + URL, timeout=30, data=b"{" + b" " * (MAX_ISSUE_BODY + 10) + b"}",
                            headers={**auth(admin_token), "Content-Type": "application/json"})
        assert too_big.status_code == 413 and too_big.json()["error"] == "request_too_large"
        again = http.post(live_server.url + URL, headers=auth(admin_token), timeout=30,
                          json={"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem()})
        assert again.status_code == 201, again.text
    assert len(set(serials)) == 3
    after = counts(instance)
    assert after[0] == before[0] + 4 and after[1] == before[1] + 4


def test_a_dead_database_is_503_on_both_paths(settings, admin_token) -> None:  # noqa: ANN001
    """PostgreSQL down (nothing listening): the token check is the first database call; both the fast path and the
    Flask view answer 503 ``database_unavailable`` as JSON, never a 500."""
    from dataclasses import replace

    from ca.instance import Instance
    from web.app import create_app

    app = create_app(instance=Instance.open(replace(settings, database_url="postgresql://nobody@127.0.0.1:1/none")))
    body = json.dumps({"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem()})
    headers = {**auth(admin_token), "Content-Type": "application/json"}
    assert isinstance(app.wsgi_app, IssueFastPath)
    answers = [Client(app).post(URL, headers=headers, data=body),
               Client(app.wsgi_app.wsgi_app).post(URL, headers=headers, data=body)]  # fast path, then Flask's view
    for resp in answers:
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.get_json()["error"] == "database_unavailable"
