"""Real responses match the published OpenAPI document (/api/openapi.json), whose schemas carry API.md's contract
(required keys, enums): verification reports of a signed and an unsigned PDF, an issued certificate, an error."""
from __future__ import annotations

import io

import jsonschema
import pytest

from tests.conftest import OFFICIAL_SUBJECT
from tests.pdf_factory import make_pdf
from tests.sign_support import make_official, without_activation
from tests.support import auth


@pytest.fixture(scope="module")
def spec(app):  # noqa: ANN001, ANN201
    return app.test_client().get("/api/openapi.json").get_json()


def check(spec: dict, name: str, body: dict) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


def test_verification_reports_match_the_schema(app, instance, spec) -> None:  # noqa: ANN001
    from signer.service import SignOptions, sign_pdf

    official = make_official(instance, image=False)
    client = app.test_client()
    for level in ("B-B", "B-LT"):
        signed = sign_pdf(without_activation(instance), official.username, make_pdf(title="Cong van 45"),
                          SignOptions(level=level))
        resp = client.post("/api/v1/verify", data={"file": (io.BytesIO(signed), "van-ban.pdf")})
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        report = resp.get_json()
        check(spec, "VerificationReport", report)
        sig = report["signatures"][0]
        assert sig["level"] == level and sig["indication"] == "TOTAL_PASSED"
        assert sig["signer"]["cn"] == OFFICIAL_SUBJECT["CN"] and sig["signer"]["uid"] == OFFICIAL_SUBJECT["uid"]
        assert (sig["timestamp"] is None) == (level == "B-B")
    unsigned = client.post("/api/v1/verify", data={"file": (io.BytesIO(make_pdf()), "x.pdf")}).get_json()
    check(spec, "VerificationReport", unsigned)
    assert unsigned["document"]["signature_count"] == 0 and unsigned["signatures"] == []


def test_issued_certificate_and_errors_match_the_schema(app, spec, admin_token, make_user) -> None:  # noqa: ANN001
    owner, _ = make_user("official")
    client = app.test_client()
    resp = client.post("/api/v1/certificates", headers=auth(admin_token),
                       json={"profile": "official", "subject": OFFICIAL_SUBJECT, "keygen": {"algorithm": "ec-p256"},
                             "owner": owner})
    assert resp.status_code == 201
    check(spec, "Certificate", resp.get_json())
    shown = client.get(f"/api/v1/certificates/{resp.get_json()['serial']}", headers=auth(admin_token))
    check(spec, "Certificate", shown.get_json())
    bad = client.post("/api/v1/certificates", headers=auth(admin_token), json={"profile": "official", "csr": "x",
                                                                               "subject": OFFICIAL_SUBJECT})
    assert bad.status_code == 400
    check(spec, "Error", bad.get_json())
    with pytest.raises(jsonschema.ValidationError):  # the check itself bites: a report missing a key fails
        check(spec, "VerificationReport", {"document": {"sha256": "0" * 64}, "signatures": []})
