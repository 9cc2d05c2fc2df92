"""Hash-only, two-step signing for officials whose key is on their own USB token.

``prepare`` lays the signature field and its appearance into the PDF, reserves room for the CMS, computes the
CMS signed attributes (PAdES: content type, message digest of the /ByteRange, signing-certificate-v2) and keeps
the prepared file in ``PendingSignature`` (15 minutes). The caller signs ``digest`` = SHA-256(signed attributes)
with the token (RSA PKCS#1 v1.5 or ECDSA, "signHash" as in the CSC API), or builds a CMS itself over
``document_digest``. ``complete`` checks the value against the certificate, adds the signature timestamp
(B-T and up), fills the CMS in, adds the DSS (B-LT) and document timestamp (B-LTA), and records the signature.

The certificate: a PEM given at ``prepare`` (it must be a certificate kyso issued, the caller may sign with,
with its key held outside kyso), or else the caller's newest registered external-key certificate. The key on the
official's own token is the possession factor, so no TOTP code is asked here.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import secrets
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import ExternalSigner, PdfCMSSignedAttributes
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import delete, select

from ca.store.models import Certificate, PendingSignature
from ca.timeutil import iso_utc
from signer import errors, levels, pdfinput, placement, policy
from signer.hsm_signer import signature_size
from signer.ltv import as_asn1
from signer.service import SignOptions, record
from signer.timestamping import timestamper as kyso_timestamper

LIFETIME = dt.timedelta(minutes=15)
MD = levels.MD


def _cert_from_pem(pem: Any) -> x509.Certificate:
    data = pem.encode() if isinstance(pem, str) else bytes(pem)
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise errors.InvalidOption("The certificate cannot be read (PEM or DER X.509 expected)",
                                   "Không đọc được chứng thư số (cần X.509 dạng PEM hoặc DER)",
                                   code="invalid_certificate") from None


def _registry(authority: Any) -> list:
    return [as_asn1(authority.ca_cert("issuing")), as_asn1(authority.ca_cert("root"))]


def prepare(instance: Any, username: str, pdf: bytes, options: SignOptions | None = None, *,
            certificate_pem: Any = None) -> dict:
    """Step 1: returns {"id", "digest", "digest_base64", "algorithm", "signature_algorithm", "data_to_sign",
    "document_digest", "expires_at", "certificate"}."""
    options = (options or SignOptions()).checked()
    auth, store = instance.authority, instance.store
    doc = pdfinput.load(pdf, instance.settings.max_upload_bytes)
    now = auth.clock().replace(microsecond=0)
    serial = options.certificate
    if certificate_pem:
        given = _cert_from_pem(certificate_pem)
        fingerprint = hashlib.sha256(given.public_bytes(serialization.Encoding.DER)).hexdigest()
        with store.read() as s:
            row = s.execute(select(Certificate).where(Certificate.fingerprint == fingerprint)).scalar_one_or_none()
        if row is None:
            raise errors.SignerNotAllowed("This certificate was not issued by this kyso CA",
                                          "Chứng thư số này không do CA kyso cấp")
        if row.key_label is not None:
            raise errors.SignerNotAllowed("This certificate's key is in kyso's HSM: use POST /api/v1/sign",
                                          "Khóa của chứng thư này nằm trong HSM của kyso: hãy dùng POST /api/v1/sign")
        serial = row.serial
    with store.read() as s:
        ident = policy.resolve(s, auth, policy.load_user(s, username), now, serial=serial, hsm=False)
    spec = placement.field_spec(doc, ident, options, now)
    cert = ident.certificate
    asn1_cert = as_asn1(cert)
    chain = _registry(auth)
    ext = ExternalSigner(asn1_cert, SimpleCertificateStore.from_certs([asn1_cert, *chain]),
                         signature_value=bytes(signature_size(cert.public_key())))
    cert_sizes = sum(len(c.dump()) for c in [asn1_cert, *chain])
    reserved = levels.reserve(cert_sizes, cert.public_key(), options.level, auth)
    ps = levels.pdf_signer(spec, ext, options.level, auth, now, bool(doc.reader.embedded_signatures))
    ps.default_timestamper = None  # the timestamp comes at ``complete``, over the real signature value

    async def run() -> tuple[Any, Any, Any]:
        prepared, _tbs, output = await ps.async_digest_doc_for_signing(doc.writer(), bytes_reserved=reserved)
        attrs = await ext.signed_attrs(prepared.document_digest, MD, PdfCMSSignedAttributes(signing_time=now),
                                       use_pades=True)
        return prepared, attrs, output

    try:
        prepared, attrs, output = asyncio.run(run())
    except errors.KysoError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyHanko's many error types on odd PDFs
        raise errors.SigningFailed(f"The document could not be prepared: {exc}",
                                   "Không chuẩn bị được tài liệu để ký") from None
    tbs = attrs.dump()
    digest = hashlib.sha256(tbs).digest()
    header = {"level": options.level, "appearance": options.appearance, "field": spec.name,
              "certificate_id": ident.certificate_id, "serial": ident.serial, "document_sha256": doc.sha256,
              "document_digest": prepared.document_digest.hex(), "start": prepared.reserved_region_start,
              "end": prepared.reserved_region_end, "signed_attrs": base64.b64encode(tbs).decode()}
    pending_id = secrets.token_urlsafe(24)
    state = _pack(header, output.getvalue())
    with store.write() as s:
        s.execute(delete(PendingSignature).where(PendingSignature.expires_at < now))
        s.add(PendingSignature(id=pending_id, user_id=ident.user_id, state=state, created_at=now,
                               expires_at=now + LIFETIME))
        auth.record(s, username, "sign.prepare", doc.sha256, {"certificate": ident.serial, "level": options.level,
                                                              "pending": pending_id[:8]})
    return {"id": pending_id, "digest": digest.hex(), "digest_base64": base64.b64encode(digest).decode(),
            "algorithm": MD, "signature_algorithm": _sig_alg(cert.public_key()),
            "data_to_sign": base64.b64encode(tbs).decode(), "document_digest": prepared.document_digest.hex(),
            "expires_at": iso_utc(now + LIFETIME), "certificate": ident.serial}


def _sig_alg(public_key: Any) -> str:
    return "rsassa_pkcs1v15" if isinstance(public_key, rsa.RSAPublicKey) else "ecdsa"


def _pack(header: dict, pdf: bytes) -> bytes:
    head = json.dumps(header).encode()
    return len(head).to_bytes(4, "big") + head + pdf


def _unpack(state: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(state[:4], "big")
    return json.loads(state[4:4 + n]), state[4 + n:]


def _verify(public_key: Any, signature: bytes, data: bytes) -> None:
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature()
    except (InvalidSignature, ValueError):
        raise errors.BadExternalSignature() from None


def _decode(value: Any, name: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    text = str(value or "").strip()
    try:
        if text and all(c in "0123456789abcdefABCDEF" for c in text) and len(text) % 2 == 0:
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise errors.InvalidOption(f"{name} must be base64 or hex", f"{name} phải ở dạng base64 hoặc hex",
                                   code=f"invalid_{name}") from None


def complete(instance: Any, username: str, pending_id: str, *, signature: Any = None, cms_der: Any = None) -> bytes:
    """Step 2: the raw signature value (over ``data_to_sign``) or a CMS → the signed PDF."""
    if (signature is None) == (cms_der is None):
        raise errors.InvalidOption("Give either signature or cms", "Cần gửi signature hoặc cms (một trong hai)",
                                   code="signature_or_cms")
    auth, store = instance.authority, instance.store
    now = auth.clock()
    with store.read() as s:
        user = policy.load_user(s, username)
        row = s.get(PendingSignature, str(pending_id or "")[:64])
        if row is None or row.user_id != user.id or row.expires_at < now:
            raise errors.PendingNotFound()
        header, pdf = _unpack(row.state)
        ident = policy.resolve(s, auth, user, now, serial=header["serial"], hsm=False)  # still valid, unrevoked
    cert = ident.certificate
    asn1_cert = as_asn1(cert)
    tbs = base64.b64decode(header["signed_attrs"])
    signed_attrs = cms.CMSAttributes.load(tbs)
    if signature is not None:
        value = _decode(signature, "signature")
        _verify(cert.public_key(), value, tbs)
    else:
        signed_attrs, value = _from_cms(_decode(cms_der, "cms"), cert, bytes.fromhex(header["document_digest"]))
    level = header["level"]
    ext = ExternalSigner(asn1_cert, SimpleCertificateStore.from_certs([asn1_cert, *_registry(auth)]),
                         signature_value=value)
    stamper = kyso_timestamper(auth) if levels.needs_timestamp(level) else None
    signed_cms = asyncio.run(ext.async_sign_prescribed_attributes(MD, signed_attrs=signed_attrs, timestamper=stamper))
    out = io.BytesIO(pdf)
    prepared = PreparedByteRangeDigest(bytes.fromhex(header["document_digest"]), header["start"], header["end"])
    try:
        prepared.fill_with_cms(out, signed_cms)
    except Exception:  # noqa: BLE001 - pyHanko's SigningError when the CMS outgrows the reserved room
        raise errors.InvalidOption("The CMS is larger than the room reserved for it",
                                   "CMS lớn hơn chỗ đã dành cho chữ ký", code="cms_too_large") from None
    signed = levels.extend(out.getvalue(), header["field"], level, auth, cert)

    def consume(s: Any) -> None:
        gone = s.execute(delete(PendingSignature).where(PendingSignature.id == row.id)).rowcount
        if gone != 1:
            raise errors.PendingNotFound()

    record(instance, ident, [(header["document_sha256"], signed)], level, header["appearance"], mode="external",
           before=consume)
    return signed


def _from_cms(der: bytes, cert: x509.Certificate, document_digest: bytes) -> tuple[cms.CMSAttributes, bytes]:
    """Signed attributes and signature value of a detached CMS made by the caller over ``document_digest``."""
    try:
        info = cms.ContentInfo.load(der)
        si = info["content"]["signer_infos"][0]
        attrs = si["signed_attrs"]
        value = si["signature"].native
        digest = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
        attrs_der = attrs.untag().dump()
    except (ValueError, KeyError, IndexError, StopIteration, TypeError, AttributeError):
        raise errors.InvalidOption("The CMS cannot be read (DER SignedData with signed attributes expected)",
                                   "Không đọc được CMS (cần SignedData DER có thuộc tính ký)", code="invalid_cms") from None
    if digest != document_digest:
        raise errors.BadExternalSignature("The CMS signs another document digest than the one prepared",
                                          "CMS ký một giá trị băm khác với giá trị đã chuẩn bị")
    set_der = cms.CMSAttributes.load(attrs_der)
    _verify(cert.public_key(), value, set_der.dump())
    return set_der, value
