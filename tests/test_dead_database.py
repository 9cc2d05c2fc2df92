"""A dead database (PostgreSQL not listening) or a missing HSM token behind a running app: EVERY route × method ×
(anonymous, bearer token, logged-in session) answers with a clear error — 503 naming what is unavailable (JSON for
the API, a page for the browser), a 4xx where the request fails before touching it, or the protocol's own answer
(OCSP tryLater, TSA rejection) — and never a 500 or a stack trace. A logged-in
user is not sent to the login page as if logged out: the database, not their session, is what failed."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.test_authz_matrix import _routes

DEAD = "postgresql://nobody@127.0.0.1:1/none"


BROKEN = {"database": {"database_url": DEAD}, "hsm": {"token_label": "no-such-token"}}
SAYS = {"database": ("database_unavailable", "Cơ sở dữ liệu"), "hsm": ("HSM",)}


def _broken_app(settings: Any, part: str) -> Any:
    from ca.instance import Instance
    from web.app import create_app

    app = create_app(instance=Instance.open(replace(settings, **BROKEN[part])))
    app.config["WTF_CSRF_ENABLED"] = False  # no form can pass CSRF without a page load, which needs the database
    return app


@pytest.mark.parametrize("who", ["anonymous", "token", "session"])
@pytest.mark.parametrize("part", ["database", "hsm"])
def test_every_route_answers_a_dead_part_clearly(instance: Any, settings: Any, part: str, who: str) -> None:
    dead_app = _broken_app(settings, part)
    problems = []
    for rule, method, path, _ in _routes(dead_app):
        client = dead_app.test_client()
        headers = {}
        if who == "token":
            headers["Authorization"] = "Bearer kyso_" + "A" * 43
        elif who == "session":
            with client.session_transaction() as sess:
                sess["_user_id"] = "1"
                sess["_fresh"] = True
        for accept in ("application/json", "text/html"):
            resp = client.open(path, method=method, headers={**headers, "Accept": accept},
                               data={} if method != "GET" else None)
            text = resp.get_data().decode("utf-8", "replace")
            where = f"{part} down: {method} {path} ({who}, {accept}) → {resp.status_code}"
            if resp.status_code >= 500 and resp.status_code != 503:
                problems.append(where)
            elif resp.status_code == 503 and not any(w in text for w in SAYS[part]):
                problems.append(f"{where}: 503 without naming the {part}: {text[:300]!r}")
            if who == "session" and "/login" in resp.headers.get("Location", ""):
                problems.append(f"{where}: a logged-in user sent to the login page, as if logged out")
            if "Traceback" in text or "psycopg" in text:
                problems.append(f"{where}: leaks internals: {text[:200]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("part,ocsp_status", [("database", "try_later"), ("hsm", "internal_error")])
def test_ocsp_and_tsa_answer_an_outage_by_their_protocols(instance: Any, settings: Any, part: str,
                                                         ocsp_status: str) -> None:
    """Real OCSP and TSA requests while a part is down, answered unsigned by their protocols: OCSP ``tryLater`` when
    the status cannot be read, ``internalError`` when it cannot be signed (RFC 6960 §2.3); the TSA a rejection with
    ``systemFailure`` (RFC 3161 §2.4.2; it reads its certificate from the database on first use)."""
    from asn1crypto import core, ocsp as asn1_ocsp, tsp

    from tests.test_ocsp import _request
    from tests.test_tsa import _query

    client = _broken_app(settings, part).test_client()
    http = client.post("/ocsp", data=_request(instance, [5]), content_type="application/ocsp-request")
    assert http.status_code == 200 and http.mimetype == "application/ocsp-response"
    assert asn1_ocsp.OCSPResponse.load(http.data)["response_status"].native == ocsp_status
    http = client.post("/tsa", data=_query("Công văn số 15".encode()), content_type="application/timestamp-query")
    assert http.status_code == 200 and http.mimetype == "application/timestamp-reply"
    status = tsp.PKIStatusInfo.load(core.Sequence.load(http.data)[0].dump())
    assert status["status"].native == "rejection" and status["fail_info"].native == {"system_failure"}


def test_a_warm_tsa_keeps_stamping_when_the_database_goes_away(instance: Any, settings: Any, tmp_path: Any) -> None:
    """The TSA needs only the HSM once it has read its certificate: with the database gone (and the role re-checked
    on every request, KYSO_CA_RELOAD_SECONDS=0) it keeps granting tokens from what the process knows, while OCSP,
    which needs the revocation records, says tryLater."""
    import sqlite3

    from asn1crypto import core, ocsp as asn1_ocsp, tsp

    from ca.instance import Instance
    from tests.test_ocsp import _request
    from tests.test_tsa import _query
    from web.app import create_app

    copy = tmp_path / "ban-sao.db"
    with sqlite3.connect(instance.store.url.split("///", 1)[1]) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    inst = Instance.open(replace(settings, database_url=f"sqlite:///{copy}", ca_reload_seconds=0))
    client = create_app(instance=inst).test_client()

    def stamp() -> str:
        http = client.post("/tsa", data=_query("Quyết định số 7".encode()), content_type="application/timestamp-query")
        return tsp.PKIStatusInfo.load(core.Sequence.load(http.data)[0].dump())["status"].native

    assert stamp() == "granted"
    inst.store.dispose()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"ban-sao.db{suffix}").unlink(missing_ok=True)
    copy.mkdir()  # the database path can no longer be opened
    assert stamp() == "granted" and stamp() == "granted"
    http = client.post("/ocsp", data=_request(instance, [5]), content_type="application/ocsp-request")
    assert asn1_ocsp.OCSPResponse.load(http.data)["response_status"].native == "try_later"
