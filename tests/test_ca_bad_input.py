"""Bad issuance requests: each is a 4xx JSON {"error", "message"} (or one CLI line and a non-zero exit), and
nothing is stored — rows in certificates and hsm_keys, keys in the token, audit events are counted before/after."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from ca.store.models import AuditEvent, Certificate, HsmKey
from tests.conftest import AGENCY_SUBJECT, OFFICIAL_SUBJECT
from tests.support import auth, run_kyso


def counts(instance: Any) -> dict[str, int]:
    with instance.store.read() as s:
        out = {m.__tablename__: s.execute(select(func.count()).select_from(m)).scalar_one()
               for m in (Certificate, HsmKey, AuditEvent)}
    out["token_keys"] = len(instance.keystore.list_keys())
    return out


def csr_pem(key: Any = None, algorithm: Any = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Thị Hằng")]))
           .sign(key, algorithm or hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def tampered_csr() -> str:
    der = bytearray(x509.load_pem_x509_csr(csr_pem(rsa.generate_private_key(65537, 2048)).encode())
                    .public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # a byte of the signature: still a well-formed request, but not signed by its key
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def sha1_csr(tmp: Path) -> str:
    """cryptography refuses to sign with SHA-1; openssl still can, which is how such requests arrive."""
    key = tmp / "k.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    return subprocess.run(["openssl", "req", "-new", "-sha1", "-key", str(key), "-subj", "/CN=Nguyen Thi Hang"],
                          check=True, capture_output=True, text=True).stdout


MALFORMED = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n-----END CERTIFICATE REQUEST-----\n"


def _cases(tmp: Path) -> dict[str, tuple[dict, int, str]]:
    """name -> (JSON body, status, error code)"""
    good = {"profile": "official", "subject": OFFICIAL_SUBJECT}
    return {
        "malformed CSR": (dict(good, csr=MALFORMED), 400, "invalid_csr"),
        "CSR with a wrong signature": (dict(good, csr=tampered_csr()), 400, "invalid_csr"),
        "RSA-1024 CSR": (dict(good, csr=csr_pem(rsa.generate_private_key(65537, 1024))), 400, "weak_key"),
        "SHA-1 signed CSR": (dict(good, csr=sha1_csr(tmp)), 400, "weak_key"),
        "EC P-521 key (not allowed)": (dict(good, csr=csr_pem(ec.generate_private_key(ec.SECP521R1()))), 400,
                                       "weak_key"),
        "csr is not text": (dict(good, csr=12345), 400, "invalid_csr"),
        "unknown profile": (dict(good, profile="bộ-trưởng", csr=csr_pem()), 400, "unknown_profile"),
        "a CA profile": (dict(good, profile="issuing", csr=csr_pem()), 400, "unknown_profile"),
        "invalid CCCD (11 digits)": ({"profile": "official", "csr": csr_pem(),
                                      "subject": dict(OFFICIAL_SUBJECT, uid=["CCCD:04819000012"])}, 400,
                                     "invalid_subject"),
        "title on agency": ({"profile": "agency", "csr": csr_pem(),
                             "subject": dict(AGENCY_SUBJECT, title="Giám đốc")}, 400, "invalid_subject"),
        "agency without MST": ({"profile": "agency", "csr": csr_pem(),
                                "subject": {k: v for k, v in AGENCY_SUBJECT.items() if k != "uid"}}, 400,
                               "invalid_subject"),
        "serialNumber typed in": ({"profile": "official", "csr": csr_pem(),
                                   "subject": dict(OFFICIAL_SUBJECT, serialNumber="PNOVN-000000000000")}, 400,
                                  "invalid_subject"),
        "subject not an object": (dict(good, subject="CN=Nguyễn Thị Hằng", csr=csr_pem()), 400, "invalid_subject"),
        "CSR and keygen both": (dict(good, csr=csr_pem(), keygen={"algorithm": "rsa2048"}, owner="admin"), 400,
                                "csr_or_keygen"),
        "neither CSR nor keygen": (good, 400, "csr_or_keygen"),
        "keygen without owner": (dict(good, keygen={"algorithm": "rsa2048"}), 400, "owner_required"),
        "keygen for an unknown owner": (dict(good, keygen={"algorithm": "ec-p256"}, owner="khong-ton-tai"), 404,
                                        "user_not_found"),
        "keygen with a weak algorithm": (dict(good, keygen={"algorithm": "rsa1024"}, owner="admin"), 400,
                                         "weak_key"),
        "huge CSR": (dict(good, csr="-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 200_000), 413, "csr_too_large"),
    }


def assert_error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    body = resp.get_json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip()
    assert body["message_vi"] != body["message_en"]  # both languages, really
    assert "Traceback" not in resp.get_data(as_text=True)


CASES = [
    "malformed CSR", "CSR with a wrong signature", "RSA-1024 CSR", "SHA-1 signed CSR", "EC P-521 key (not allowed)",
    "csr is not text", "unknown profile", "a CA profile", "invalid CCCD (11 digits)", "title on agency",
    "agency without MST", "serialNumber typed in", "subject not an object", "CSR and keygen both",
    "neither CSR nor keygen", "keygen without owner", "keygen for an unknown owner", "keygen with a weak algorithm",
    "huge CSR"]


@pytest.fixture(scope="module")
def bad_requests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, int, str]]:
    cases = _cases(tmp_path_factory.mktemp("bad-csr"))
    assert sorted(cases) == sorted(CASES)
    return cases


@pytest.mark.parametrize("case", CASES)
def test_bad_request_is_4xx_json_and_stores_nothing(case, bad_requests, client, admin_token,
                                                    instance) -> None:  # noqa: ANN001
    body, status, code = bad_requests[case]
    before = counts(instance)
    resp = client.post("/api/v1/certificates", headers=auth(admin_token), json=body)
    assert_error(resp, status, code)
    assert counts(instance) == before


def test_non_json_bodies_are_refused(client, admin_token, instance) -> None:  # noqa: ANN001
    before = counts(instance)
    for data, ctype in (("profile=official", "application/x-www-form-urlencoded"),
                        ("{not json", "application/json"), ("[1, 2]", "application/json"),
                        ("\xff\xfe", "application/json")):
        resp = client.post("/api/v1/certificates", headers=auth(admin_token), data=data, content_type=ctype)
        assert_error(resp, 400, "invalid_json")
    assert counts(instance) == before


def test_missing_wrong_or_malformed_tokens_are_401(client, instance) -> None:  # noqa: ANN001
    body = {"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem()}
    before = counts(instance)
    for headers in ({}, auth("kyso_" + "x" * 43), auth("not-a-kyso-token"), {"Authorization": "Basic YWRtaW46eA=="},
                    {"Authorization": "Bearer "}):
        resp = client.post("/api/v1/certificates", headers=headers, json=body)
        assert resp.status_code == 401, headers
        assert resp.get_json()["error"] in ("unauthorized", "invalid_token") and resp.get_json()["message"]
    assert counts(instance) == before


@pytest.mark.parametrize("role", ["official", "clerk", "auditor"])
def test_only_admins_issue(role, client, make_user, instance) -> None:  # noqa: ANN001
    _, token = make_user(role)
    before = counts(instance)
    resp = client.post("/api/v1/certificates", headers=auth(token),
                       json={"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": csr_pem()})
    assert_error(resp, 403, "forbidden")
    assert counts(instance) == before


def test_cli_bad_requests_print_one_line_and_store_nothing(instance, kyso_env, tmp_path) -> None:  # noqa: ANN001
    subject = tmp_path / "official.json"
    subject.write_text(json.dumps(OFFICIAL_SUBJECT, ensure_ascii=False), encoding="utf-8")
    bad_cccd = tmp_path / "bad-cccd.json"
    bad_cccd.write_text(json.dumps(dict(OFFICIAL_SUBJECT, uid=["CCCD:0481900001"]), ensure_ascii=False),
                        encoding="utf-8")
    not_json = tmp_path / "not.json"
    not_json.write_text("CN=Nguyễn Thị Hằng", encoding="utf-8")
    weak = tmp_path / "weak.csr"
    weak.write_text(csr_pem(rsa.generate_private_key(65537, 1024)), encoding="utf-8")
    malformed = tmp_path / "malformed.csr"
    malformed.write_text(MALFORMED, encoding="utf-8")
    good = tmp_path / "good.csr"
    good.write_text(csr_pem(), encoding="utf-8")
    cases = {
        "malformed CSR": (["--csr", str(malformed), "--subject-json", str(subject)], "CSR"),
        "RSA-1024": (["--csr", str(weak), "--subject-json", str(subject)], "2048"),
        "invalid CCCD": (["--csr", str(good), "--subject-json", str(bad_cccd)], "CCCD"),
        "subject not JSON": (["--csr", str(good), "--subject-json", str(not_json)], "JSON"),
        "keygen without owner": (["--keygen", "--subject-json", str(subject)], "owner"),
        "unknown owner": (["--keygen", "--owner", "khong-ton-tai", "--subject-json", str(subject)], "khong-ton-tai"),
    }
    before = counts(instance)
    procs = {name: subprocess.Popen([*_kyso_argv(), "cert", "issue", "--profile", "official", *args], env=kyso_env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (args, _) in cases.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert proc.returncode != 0, name
        assert len(lines) == 1 and lines[0].startswith("kyso: "), (name, err)
        assert cases[name][1] in lines[0] and "Traceback" not in err, (name, lines[0])
        assert out == ""
    unknown = run_kyso("cert", "issue", "--profile", "giám-đốc", "--csr", str(good), "--subject-json", str(subject),
                       env=kyso_env)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
    assert counts(instance) == before


def _kyso_argv() -> list[str]:
    from tests.support import KYSO

    return [KYSO]
