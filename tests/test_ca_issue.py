"""Issuance as an operator meets it, judged by openssl: both key paths (CSR with proof of possession, key generated
in the HSM), through the REST API and through `kyso cert issue`; names intact in UTF-8; the subject is the approved
one, never the CSR's."""
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

from tests.conftest import AGENCY_SUBJECT, OFFICIAL_SUBJECT
from tests.support import auth, run_kyso


def make_csr(key: Any = None, cn: str = "Kẻ Mạo Danh", org: str = "Tổ chức giả") -> str:
    key = key or rsa.generate_private_key(65537, 2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def openssl_verify(ca_files: dict[str, Path], pem: str, tmp_path: Path) -> str:
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(pem, encoding="utf-8")
    out = subprocess.run(["openssl", "verify", "-CAfile", str(ca_files["root"]), "-untrusted",
                          str(ca_files["issuing"]), str(leaf)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def subject_rfc2253(pem: str, tmp_path: Path) -> str:
    leaf = tmp_path / "subject.pem"
    leaf.write_text(pem, encoding="utf-8")
    return subprocess.run(["openssl", "x509", "-in", str(leaf), "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"],
                          capture_output=True, text=True, check=True).stdout


def test_rest_csr_path_verifies_with_openssl_and_keeps_the_approved_subject(client, admin_token, ca_files,
                                                                            tmp_path) -> None:  # noqa: ANN001
    resp = client.post("/api/v1/certificates", headers=auth(admin_token),
                       json={"profile": "official", "subject": OFFICIAL_SUBJECT, "csr": make_csr()})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "valid" and body["key"] == "external"
    assert body["not_before"].endswith("Z") or "+00:00" in body["not_before"]
    assert openssl_verify(ca_files, body["pem"], tmp_path).strip().endswith("OK")
    subject = subject_rfc2253(body["pem"], tmp_path)
    for part in ("UID=CCCD:048190000123", "CN=Nguyễn Thị Hằng", "title=Trưởng phòng", "OU=Phòng Tham mưu",
                 "O=Công an thành phố Đà Nẵng", "L=Hải Châu", "ST=Đà Nẵng", "C=VN", "serialNumber=PNOVN-048190000123"):
        assert part in subject, (part, subject)
    # the CSR asked for another name and organisation: not a trace of them
    assert "Mạo Danh" not in subject and "giả" not in subject
    cert = x509.load_pem_x509_certificate(body["pem"].encode())
    assert format(cert.serial_number, "x") == body["serial"]


def test_rest_hsm_keygen_path_binds_the_key_to_its_owner(client, admin_token, make_user, instance, ca_files,
                                                         tmp_path) -> None:  # noqa: ANN001
    owner, _ = make_user("clerk")
    resp = client.post("/api/v1/certificates", headers=auth(admin_token),
                       json={"profile": "agency", "subject": AGENCY_SUBJECT, "keygen": {"algorithm": "ec-p256"},
                             "owner": owner})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["key"] == "hsm"
    assert openssl_verify(ca_files, body["pem"], tmp_path).strip().endswith("OK")
    subject = subject_rfc2253(body["pem"], tmp_path)
    assert "CN=Công an thành phố Đà Nẵng" in subject and "UID=MST:0401234567" in subject
    assert "organizationIdentifier=VATVN-0401234567" in subject
    row = instance.authority.get(body["serial"])
    assert row.owner.username == owner and row.key_label
    info = instance.keystore.key_info(row.key_label)
    assert info.sensitive and info.never_extractable
    # the certified public key is the one inside the token
    cert = x509.load_pem_x509_certificate(body["pem"].encode())
    assert cert.public_key() == instance.keystore.public_key(row.key_label)
    shown = client.get(f"/api/v1/certificates/{body['serial']}", headers=auth(admin_token)).get_json()
    assert shown["owner"] == owner and shown["key"] == "hsm" and shown["subject"]["CN"] == AGENCY_SUBJECT["CN"]


@pytest.mark.parametrize("path", ["csr", "keygen"])
def test_cli_issue_verifies_with_openssl(path, instance, kyso_env, ca_files, tmp_path) -> None:  # noqa: ANN001
    subject = tmp_path / "subject.json"
    subject.write_text(json.dumps(OFFICIAL_SUBJECT, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "leaf.pem"
    args = ["cert", "issue", "--profile", "official", "--subject-json", str(subject), "-o", str(out), "--json"]
    if path == "csr":
        csr = tmp_path / "req.csr"
        csr.write_text(make_csr(ec.generate_private_key(ec.SECP384R1())), encoding="utf-8")
        args += ["--csr", str(csr)]
    else:
        args += ["--keygen", "--algorithm", "rsa2048", "--owner", "admin"]
    done = run_kyso(*args, env=kyso_env, check=True)
    data = json.loads(done.stdout)
    pem = out.read_text(encoding="utf-8")
    assert pem == data["pem"]
    assert openssl_verify(ca_files, pem, tmp_path).strip().endswith("OK")
    subject_line = subject_rfc2253(pem, tmp_path)
    assert "UID=CCCD:048190000123" in subject_line and "title=Trưởng phòng" in subject_line
    assert "CN=Nguyễn Thị Hằng" in subject_line
    row = instance.authority.get(data["serial"])
    assert row.profile == "official" and (row.key_label is not None) == (path == "keygen")
    shown = run_kyso("cert", "show", data["serial"], "--json", env=kyso_env, check=True)
    assert json.loads(shown.stdout)["subject"]["CN"] == "Nguyễn Thị Hằng"


def test_certificate_extensions_follow_the_profile(client, admin_token, instance, settings) -> None:  # noqa: ANN001
    resp = client.post("/api/v1/certificates", headers=auth(admin_token),
                       json={"profile": "official", "subject": dict(OFFICIAL_SUBJECT, email="hang.nt@danang.gov.vn"),
                             "csr": make_csr()})
    assert resp.status_code == 201, resp.get_json()
    cert = x509.load_pem_x509_certificate(resp.get_json()["pem"].encode())
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.content_commitment
    issuing = instance.authority.ca_cert("issuing")
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    crl = ext.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert crl == f"{settings.base_url}/pki/issuing.crl"
    aia = {d.access_method.dotted_string: d.access_location.value
           for d in ext.get_extension_for_class(x509.AuthorityInformationAccess).value}
    assert aia == {"1.3.6.1.5.5.7.48.1": f"{settings.base_url}/ocsp",
                   "1.3.6.1.5.5.7.48.2": f"{settings.base_url}/pki/issuing.crt"}
    policies = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [instance.authority.profiles.policy_oid]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["hang.nt@danang.gov.vn"]
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert validity.days == instance.authority.profiles.get("official").validity_days
    assert cert.signature_hash_algorithm.name == "sha256"


def test_ca_hierarchy_is_what_init_promises(instance, ca_files) -> None:  # noqa: ANN001
    auth_ = instance.authority
    root, issuing, ocsp, tsa = (auth_.ca_cert(r) for r in ("root", "issuing", "ocsp", "tsa"))
    assert root.public_key().key_size == 4096 and root.subject == root.issuer
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert issuing.public_key().key_size in (3072, 4096)
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days >= 7300
    assert (issuing.not_valid_after_utc - issuing.not_valid_before_utc).days >= 3650
    ocsp_eku = ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in ocsp_eku] == ["1.3.6.1.5.5.7.3.9"]
    ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck)
    tsa_eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_eku.critical and [o.dotted_string for o in tsa_eku.value] == ["1.3.6.1.5.5.7.3.8"]
    for cert in (root, issuing, ocsp, tsa):
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Bộ Công an"
    for role in ("ocsp", "tsa"):
        out = subprocess.run(["openssl", "verify", "-CAfile", str(ca_files["root"]), "-untrusted",
                              str(ca_files["issuing"]), str(ca_files[role])], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
    # every CA key is inside the token, sensitive and never extractable
    for role in ("root", "issuing", "ocsp", "tsa"):
        label = instance.authority._load_ca(role)[2]
        info = instance.keystore.key_info(label)
        assert info.sensitive and info.never_extractable
