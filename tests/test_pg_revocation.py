"""Revocation, CRLs and revocation status on BOTH databases (SQLite and a real PostgreSQL), judged by
cryptography's CRL parser and by ``openssl crl -verify``."""
from __future__ import annotations

import subprocess
import threading
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from ca.errors import KysoError
from ca.store.models import AuditEvent, Crl, Revocation
from tests.conftest import OFFICIAL_SUBJECT
from tests.test_pg_ca import counts, csr_pem, db_instance, dialect  # noqa: F401 - db_instance is a fixture

from ca import crl as crl_mod, revocation


def _issue(inst: Any, cn: str = "Nguyễn Thị Hằng") -> str:
    return inst.authority.issue(profile="official", subject=dict(OFFICIAL_SUBJECT, CN=cn), csr=csr_pem(cn),
                                actor="admin").serial


def _crl(inst: Any, delta: bool = False) -> x509.CertificateRevocationList:
    data = revocation.current_crl(inst.authority, "issuing", delta=delta)
    crl = x509.load_der_x509_crl(data)
    assert crl.is_signature_valid(inst.authority.ca_cert("issuing").public_key())
    return crl


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_revocation_is_stored_audited_and_listed_in_the_next_crl(db_instance, tmp_path) -> None:  # noqa: ANN001
    inst = db_instance
    serial = _issue(inst, "Trần Văn Đức")
    before = _number(_crl(inst))
    assert revocation.status(inst.authority, int(serial, 16))[0] == "good"
    out = revocation.revoke(inst.authority, serial, "keyCompromise", actor="quản trị viên")
    assert out["status"] == "revoked"
    state, revoked_at, reason = revocation.status(inst.authority, int(serial, 16))
    assert (state, reason) == ("revoked", "keyCompromise") and revoked_at.utcoffset() is not None
    assert inst.authority.get(serial).revoked
    with inst.store.read() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "cert.revoke", AuditEvent.target == serial)
                          ).scalar_one()
    assert event.actor == "quản trị viên" and event.details["reason"] == "keyCompromise"
    crl = _crl(inst)
    assert _number(crl) > before
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    # openssl, an outside judge, checks the CRL's signature against the issuing CA
    (tmp_path / "crl.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    (tmp_path / "issuing.pem").write_bytes(inst.authority.ca_cert("issuing").public_bytes(serialization.Encoding.PEM))
    proc = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout",
                           "-CAfile", str(tmp_path / "issuing.pem")], capture_output=True, text=True)
    assert proc.returncode == 0 and "verify OK" in proc.stderr + proc.stdout, proc.stderr


def test_bad_revocations_store_nothing(db_instance) -> None:  # noqa: ANN001
    inst = db_instance
    serial = _issue(inst)
    revocation.revoke(inst.authority, serial, "affiliationChanged", actor="admin")

    def revocation_rows() -> int:
        with inst.store.read() as s:
            return s.execute(select(func.count()).select_from(Revocation)).scalar_one()

    rows = revocation_rows()
    cases = [(serial, "keyCompromise", "already_revoked"), ("ffff0000ffff", "keyCompromise", "certificate_not_found"),
             ("không-phải-số", "keyCompromise", "invalid_serial"), (_issue(inst), "lý do lạ", "invalid_reason")]
    before = counts(inst)  # after the extra issuance above
    for target, reason, code in cases:
        with pytest.raises(KysoError) as err:
            revocation.revoke(inst.authority, target, reason, actor="admin")
        assert err.value.code == code, (target, err.value.code)
        assert err.value.vi_message and err.value.en_message
    assert counts(inst) == before and revocation_rows() == rows
    assert inst.authority.get(serial).revocation.reason == "affiliationChanged"


def test_concurrent_crl_issuance_never_repeats_a_number(db_instance) -> None:  # noqa: ANN001
    inst = db_instance
    numbers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(4):
                published = crl_mod.issue(inst.authority, "issuing")
                parsed = x509.load_der_x509_crl(published.der)
                assert _number(parsed) == published.number
                with lock:
                    numbers.append(published.number)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == len(set(numbers)) == 16
    with inst.store.read() as s:
        stored = list(s.execute(select(Crl.number).where(Crl.issuer_id == inst.authority.ca_id("issuing"))
                                .order_by(Crl.id)).scalars())
    # stored in commit order: the numbers only go up
    assert stored == sorted(stored) and len(set(stored)) == len(stored)
    assert _number(_crl(inst)) >= max(numbers)


def _ocsp_request(inst: Any, serial: str, nonce: bool) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    cert = x509.load_der_x509_certificate(inst.authority.get(serial).der)
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, inst.authority.ca_cert("issuing"), hashes.SHA256())
    if nonce:
        import os

        builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _ocsp_status(inst: Any, serial: str, nonce: bool = False) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp as x509_ocsp

    from ca import ocsp

    resp = x509_ocsp.load_der_ocsp_response(ocsp.respond(inst.authority, _ocsp_request(inst, serial, nonce)))
    assert resp.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    responder = inst.authority.ca_cert("ocsp")
    responder.public_key().verify(resp.signature, resp.tbs_response_bytes,
                                  ec.ECDSA(resp.signature_hash_algorithm))
    assert resp.serial_number == int(serial, 16)
    return resp.certificate_status


def test_ocsp_answers_revoked_right_after_the_revocation_commits(db_instance) -> None:  # noqa: ANN001
    from cryptography.x509.ocsp import OCSPCertStatus

    inst = db_instance
    serial = _issue(inst, "Lê Thị Đà Nẵng")
    # the nonce-less answer is cached per process: ask twice so the cache is warm before the revocation
    assert _ocsp_status(inst, serial) == OCSPCertStatus.GOOD
    assert _ocsp_status(inst, serial) == OCSPCertStatus.GOOD
    revocation.revoke(inst.authority, serial, "privilegeWithdrawn", actor="admin")
    assert _ocsp_status(inst, serial) == OCSPCertStatus.REVOKED
    assert _ocsp_status(inst, serial, nonce=True) == OCSPCertStatus.REVOKED
