"""Hash-only two-step signing: the key stays outside kyso (a key made here stands for the official's USB
token; kyso issued its certificate from a CSR with the official as owner)."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from ca.store.models import PendingSignature
from tests.conftest import OFFICIAL_SUBJECT, new_user
from tests.pdf_factory import make_pdf
from tests.sign_support import (openssl_cms_verify, pdfsig_valid_count, qpdf_check, signature_png, signatures,
                                without_activation)
from tests.support import auth


def usb_official(instance, key) -> tuple[str, str, str]:  # noqa: ANN001
    """An official whose key is outside kyso: kyso issues the certificate from their CSR."""
    from ca.store.models import User

    name, token = new_user(instance, "official")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Thị Hằng")]))
           .sign(key, hashes.SHA256()))
    issued = instance.authority.issue(profile="official", subject=OFFICIAL_SUBJECT,
                                      csr=csr.public_bytes(serialization.Encoding.PEM), owner=name)
    with instance.store.write() as s:
        s.execute(select(User).where(User.username == name)).scalar_one().signature_image = signature_png()
    return name, token, issued.pem


def token_sign(key, data: bytes) -> bytes:  # noqa: ANN001
    """What the USB token does: sign (hash-then-sign) the data to be signed."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def client(instance):  # noqa: ANN001, ANN201
    from web.app import create_app

    return create_app(instance=without_activation(instance), config={"TESTING": True}).test_client()


def prepare(client, token: str, pdf: bytes, **fields):  # noqa: ANN001, ANN201
    data = {k: str(v) for k, v in fields.items()}
    data["file"] = (io.BytesIO(pdf), "to-trinh.pdf")
    return client.post("/api/v1/sign/prepare", data=data, headers=auth(token), content_type="multipart/form-data")


@pytest.mark.parametrize("keytype,level", [("rsa", "B-LT"), ("ec", "B-T"), ("rsa", "B-LTA")])
def test_prepare_sign_outside_complete(instance, client, ca_files, tmp_path: Path, keytype: str, level: str) -> None:  # noqa: ANN001
    key = rsa.generate_private_key(65537, 2048) if keytype == "rsa" else ec.generate_private_key(ec.SECP256R1())
    name, token, pem = usb_official(instance, key)
    r = prepare(client, token, make_pdf(2), level=level, appearance="signer", certificate=pem)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["algorithm"] == "sha256" and len(body["digest"]) == 64
    data_to_sign = base64.b64decode(body["data_to_sign"])
    h = hashes.Hash(hashes.SHA256())
    h.update(data_to_sign)
    assert h.finalize().hex() == body["digest"]
    sig = token_sign(key, data_to_sign)
    done = client.post("/api/v1/sign/complete", json={"id": body["id"], "signature": base64.b64encode(sig).decode()},
                       headers=auth(token))
    assert done.status_code == 200, done.get_json()
    path = tmp_path / "twostep.pdf"
    path.write_bytes(done.data)
    total, valid = pdfsig_valid_count(path)
    assert valid == 1 and total == (2 if level == "B-LTA" else 1)
    assert qpdf_check(path).returncode == 0
    signed, cms_der = signatures(done.data)[0]
    v = openssl_cms_verify(tmp_path, signed, cms_der, ca_files)
    assert v.returncode == 0, v.stderr
    unsigned = cms.ContentInfo.load(cms_der)["content"]["signer_infos"][0]["unsigned_attrs"]
    assert any(a["type"].native == "signature_time_stamp_token" for a in unsigned)
    # the session is used up
    again = client.post("/api/v1/sign/complete", json={"id": body["id"], "signature": base64.b64encode(sig).decode()},
                        headers=auth(token))
    assert again.status_code == 404 and again.get_json()["error"] == "pending_signature_not_found"


def test_registered_certificate_wrong_signature_and_cms(instance, client, ca_files, tmp_path: Path) -> None:  # noqa: ANN001
    key = rsa.generate_private_key(65537, 2048)
    name, token, _pem = usb_official(instance, key)
    # no certificate sent: the official's registered external-key certificate is used
    body = prepare(client, token, make_pdf(1), level="B-B").get_json()
    other = rsa.generate_private_key(65537, 2048)
    bad = token_sign(other, base64.b64decode(body["data_to_sign"]))
    r = client.post("/api/v1/sign/complete", json={"id": body["id"], "signature": base64.b64encode(bad).decode()},
                    headers=auth(token))
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_signature_value"
    with instance.store.read() as s:
        assert s.execute(select(func.count()).select_from(PendingSignature)
                         .where(PendingSignature.id == body["id"])).scalar_one() == 1  # still there to retry
    # someone else cannot complete it
    _, stranger = new_user(instance, "official")
    good = token_sign(key, base64.b64decode(body["data_to_sign"]))
    r = client.post("/api/v1/sign/complete", json={"id": body["id"], "signature": good.hex()}, headers=auth(stranger))
    assert r.status_code == 404
    # a CMS made outside over the document digest (as a token middleware would)
    cms_der = external_cms(key, instance, bytes.fromhex(body["document_digest"]))
    r = client.post("/api/v1/sign/complete", data={"id": body["id"], "cms": base64.b64encode(cms_der).decode()},
                    headers=auth(token))
    assert r.status_code == 200, r.get_json()
    path = tmp_path / "cms.pdf"
    path.write_bytes(r.data)
    assert pdfsig_valid_count(path) == (1, 1)


def test_hsm_certificate_is_not_for_two_step(instance, client) -> None:  # noqa: ANN001
    from tests.sign_support import make_official

    off = make_official(instance)
    pem = instance.authority.get(off.serial).der
    r = prepare(client, off.token, make_pdf(1), certificate=base64.b64encode(pem).decode())
    assert r.status_code in (400, 403)
    r = prepare(client, off.token, make_pdf(1), certificate=x509.load_der_x509_certificate(pem)
                .public_bytes(serialization.Encoding.PEM).decode())
    assert r.status_code == 403 and r.get_json()["error"] == "signer_not_allowed"


def external_cms(key, instance, document_digest: bytes) -> bytes:  # noqa: ANN001
    """A detached CMS built by another tool (asn1crypto by hand): signed attrs = content type + digest."""
    from asn1crypto import algos
    from asn1crypto import x509 as ax509

    from ca.store.models import Certificate

    with instance.store.read() as s:
        der = s.execute(select(Certificate.der).order_by(Certificate.id.desc()).limit(1)).scalar_one()
    cert = ax509.Certificate.load(der)
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [document_digest]}),
    ])
    sig = token_sign(key, attrs.dump())
    si = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "signed_attrs": attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}),
        "signature": sig,
    })
    sd = cms.SignedData({"version": "v1", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                         "encap_content_info": {"content_type": "data"}, "certificates": [cert],
                         "signer_infos": [si]})
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()
