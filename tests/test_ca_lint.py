"""Lint before issue (Boulder's practice): pkilint judges every kind of certificate kyso makes.

A fresh CA is made through the real `kyso` command with a public base URL (an operator's set-up: ETSI forbids
internal names such as 127.0.0.1 in CRL/AIA URLs), then official (HSM key) and agency (CSR) certificates are
issued through `kyso cert issue`. Allowed findings: INFO ``pkix.subject_key_identifier_method_1_identified``
only (docs/ca.md explains it). Negative controls prove the harness reports errors and warnings.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkilint.bin import lint_etsi_cert, lint_pkix_cert

from tests.conftest import AGENCY_SUBJECT, OFFICIAL_SUBJECT
from tests.support import clean_env, run_kyso

PUBLIC_URL = "http://ca.bocongan.gov.vn"
ALLOWED_INFO = {"pkix.subject_key_identifier_method_1_identified"}


def lint(tool, *args: str) -> list[tuple[str, str]]:
    """Run a pkilint command in-process; return (severity, code) of every finding at INFO and above."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tool.main(["lint", "-s", "INFO", "-f", "JSON", *args])
    report = json.loads(out.getvalue())
    return [(f["severity"], f["code"]) for r in report["results"] for f in r["finding_descriptions"]]


def unexpected(findings: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [f for f in findings if not (f[0] == "INFO" and f[1] in ALLOWED_INFO)]


@pytest.fixture(scope="module")
def public_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lint-ca")
    env = clean_env(KYSO_HOME=str(d / "home"), KYSO_BASE_URL=PUBLIC_URL)
    init = run_kyso("init", "--org", "Bộ Công an", "--province", "Hà Nội", "--admin-password", "mat-khau-qtv-1",
                    "--json", env=env, check=True)
    serials = json.loads(init.stdout)["serials"]
    files: dict[str, Path] = {}
    for role, serial in serials.items():
        shown = json.loads(run_kyso("cert", "show", serial, "--json", env=env, check=True).stdout)
        files[role] = d / f"{role}.pem"
        files[role].write_text(shown["pem"], encoding="utf-8")
    for role in ("ocsp", "tsa"):  # renewed certificates (kyso ca renew) are judged like those made at init
        serial = json.loads(run_kyso("ca", "renew", role, "--json", env=env, check=True).stdout)["serial"]
        files[f"{role}-renewed"] = d / f"{role}-renewed.pem"
        files[f"{role}-renewed"].write_text(
            json.loads(run_kyso("cert", "show", serial, "--json", env=env, check=True).stdout)["pem"], encoding="utf-8")
    (d / "official.json").write_text(json.dumps(OFFICIAL_SUBJECT, ensure_ascii=False), encoding="utf-8")
    (d / "agency.json").write_text(json.dumps(AGENCY_SUBJECT, ensure_ascii=False), encoding="utf-8")
    files["official"] = d / "official.pem"
    run_kyso("cert", "issue", "--profile", "official", "--keygen", "--algorithm", "rsa2048", "--owner", "admin",
             "--subject-json", str(d / "official.json"), "-o", str(files["official"]), env=env, check=True)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ignored")]))
           .sign(key, hashes.SHA256()))
    (d / "agency.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    files["agency"] = d / "agency.pem"
    run_kyso("cert", "issue", "--profile", "agency", "--csr", str(d / "agency.csr"),
             "--subject-json", str(d / "agency.json"), "-o", str(files["agency"]), env=env, check=True)
    return files


@pytest.mark.parametrize("kind", ["root", "issuing", "ocsp", "tsa", "ocsp-renewed", "tsa-renewed", "official",
                                  "agency"])
def test_pkix_lint_is_clean(public_ca: dict[str, Path], kind: str) -> None:
    findings = lint(lint_pkix_cert, str(public_ca[kind]))
    assert unexpected(findings) == []
    # the only INFO we allow is really the SKI one (RFC 5280 method 1), present on every certificate
    assert ("INFO", "pkix.subject_key_identifier_method_1_identified") in findings


@pytest.mark.parametrize("kind,etsi_type", [("official", "NCP-NATURAL-PERSON-CERTIFICATE"),
                                            ("agency", "NCP-LEGAL-PERSON-CERTIFICATE")])
def test_etsi_lint_is_clean(public_ca: dict[str, Path], kind: str, etsi_type: str) -> None:
    assert unexpected(lint(lint_etsi_cert, "-t", etsi_type, str(public_ca[kind]))) == []


def test_etsi_subject_attributes_and_semantics(public_ca: dict[str, Path]) -> None:
    official = x509.load_pem_x509_certificate(public_ca["official"].read_bytes())
    agency = x509.load_pem_x509_certificate(public_ca["agency"].read_bytes())
    get = lambda cert, oid: [a.value for a in cert.subject.get_attributes_for_oid(oid)]  # noqa: E731
    assert get(official, x509.NameOID.SURNAME) == ["Nguyễn"]
    assert get(official, x509.NameOID.GIVEN_NAME) == ["Thị Hằng"]
    assert get(official, x509.NameOID.SERIAL_NUMBER) == ["PNOVN-048190000123"]
    assert get(official, x509.NameOID.USER_ID) == ["CCCD:048190000123"]
    assert get(agency, x509.NameOID.ORGANIZATION_IDENTIFIER) == ["VATVN-0401234567"]
    assert get(agency, x509.NameOID.USER_ID) == ["MST:0401234567"]
    # type A key usage (nonRepudiation only): ETSI EN 319 412-2 NAT-4.3.2's preferred content-commitment setting
    for cert in (official, agency):
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.content_commitment and not ku.digital_signature and not ku.key_encipherment


def test_negative_controls_are_reported(public_ca: dict[str, Path], tmp_path: Path) -> None:
    """The harness is not blind: a natural-person certificate linted as a legal person is an ERROR, and
    digitalSignature+nonRepudiation (the older Vietnamese habit) is the WARNING we avoid."""
    wrong = lint(lint_etsi_cert, "-t", "NCP-LEGAL-PERSON-CERTIFICATE", str(public_ca["official"]))
    assert ("ERROR", "etsi.en_319_412_3.leg-4.2.1-2.organization_identifier_attribute_absent") in wrong

    from dataclasses import replace

    from ca import names
    from ca.certbuilder import build_certificate, new_serial
    from ca.profiles import load

    profiles = load()
    mixed = replace(profiles.get("official"), key_usage=("digital_signature", "content_commitment"))
    issuer = x509.load_pem_x509_certificate(public_ca["issuing"].read_bytes())
    ca_key = ec.generate_private_key(ec.SECP384R1())  # a stand-in issuer key: only the leaf's fields are judged
    subject = names.for_profile(OFFICIAL_SUBJECT, mixed)
    cert = build_certificate(profile=mixed, profiles=profiles, subject=names.to_name(subject),
                             public_key=ec.generate_private_key(ec.SECP256R1()).public_key(), issuer_cert=issuer,
                             issuer_key=ca_key, serial=new_serial(),
                             not_before=dt.datetime.now(dt.timezone.utc).replace(microsecond=0), base_url=PUBLIC_URL)
    path = tmp_path / "mixed.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    findings = lint(lint_etsi_cert, "-t", "NCP-NATURAL-PERSON-CERTIFICATE", str(path))
    assert ("WARNING", "etsi.en_319_412_2.nat-4.3.2-1.mixed_key_usage_setting") in findings
