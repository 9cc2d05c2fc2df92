"""Building and signing certificates from a profile. Pure: no database, no clock of its own.

The signing key is whatever ``cryptography`` accepts; in kyso it is an HSM key from ``hsm.KeyStore``.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ObjectIdentifier

from ca.errors import WeakKey
from ca.profiles import Profile, ProfileSet

_KU_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def new_serial() -> int:
    """Random, positive, 150 bits of entropy, fixed width (19 bytes in DER), below 2^159 (DESIGN rule 6)."""
    return (1 << 150) | secrets.randbits(150)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def hash_for(key: Any) -> hashes.HashAlgorithm:
    """The signature hash for an issuer key: SHA-256, or SHA-384 for P-384."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def check_public_key(public_key: Any, profiles: ProfileSet) -> str:
    """Refuse weak or unknown keys. Returns the algorithm name (e.g. 'rsa2048', 'ec-p256')."""
    if isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.key_size
        if bits < profiles.rsa_min_bits:
            raise WeakKey(f"RSA keys must have at least {profiles.rsa_min_bits} bits (this one has {bits})",
                          f"Khóa RSA phải dài tối thiểu {profiles.rsa_min_bits} bit (khóa này {bits} bit)")
        if public_key.public_numbers().e < 65537:
            raise WeakKey("The RSA public exponent must be at least 65537", "Số mũ công khai RSA phải ≥ 65537")
        return f"rsa{bits}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in profiles.ec_curves:
            raise WeakKey(f"Curve {public_key.curve.name} is not allowed (use {', '.join(profiles.ec_curves)})",
                          f"Đường cong {public_key.curve.name} không được phép")
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(public_key.curve.name, public_key.curve.name)
    raise WeakKey(f"Key type {type(public_key).__name__} is not allowed (RSA ≥ 2048 or EC P-256/P-384)",
                  "Loại khóa không được phép (RSA ≥ 2048 hoặc EC P-256/P-384)")


# ETSI EN 319 412-1 §5.1: the semantics of serialNumber (natural person) / organizationIdentifier (legal
# person), stated in a qcStatements extension (RFC 3739 id-qcs-pkixQCSyntax-v2 with SemanticsInformation).
_QC_SYNTAX_V2 = "1.3.6.1.5.5.7.11.2"
_SEMANTICS = {"natural": "0.4.0.194121.1.1", "legal": "0.4.0.194121.1.2"}
_QC_STATEMENTS = ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def _encode_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray()
    for n in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def qc_semantics_extension(kind: str) -> x509.UnrecognizedExtension:
    """qcStatements { QCStatement { id-qcs-pkixQCSyntax-v2, SemanticsInformation { semanticsId } } }."""
    semantics = _tlv(0x30, _encode_oid(_SEMANTICS[kind]))
    statement = _tlv(0x30, _encode_oid(_QC_SYNTAX_V2) + semantics)
    return x509.UnrecognizedExtension(_QC_STATEMENTS, _tlv(0x30, statement))


def build_certificate(
    *,
    profile: Profile,
    profiles: ProfileSet,
    subject: x509.Name,
    public_key: Any,
    issuer_cert: x509.Certificate | None,
    issuer_key: Any,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime | None = None,
    base_url: str,
    email: str | None = None,
) -> x509.Certificate:
    """Build and sign one certificate. ``issuer_cert=None`` makes a self-signed (root) certificate."""
    if not_after is None:
        not_after = not_before + dt.timedelta(days=profile.validity_days)
    if issuer_cert is not None and not_after > issuer_cert.not_valid_after_utc:
        not_after = issuer_cert.not_valid_after_utc  # never outlive the issuer (RFC 5280 practice)
    issuer_name = subject if issuer_cert is None else issuer_cert.subject
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer_name)
         .public_key(public_key)
         .serial_number(serial)
         .not_valid_before(not_before)
         .not_valid_after(not_after))
    b = b.add_extension(x509.BasicConstraints(ca=profile.ca, path_length=profile.path_len if profile.ca else None),
                        critical=True)
    ku = {name: name in profile.key_usage for name in _KU_NAMES}
    ku["encipher_only"] = ku["decipher_only"] = False
    b = b.add_extension(x509.KeyUsage(**ku), critical=profile.key_usage_critical)
    if profile.eku:
        b = b.add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in profile.eku]),
                            critical=profile.eku_critical)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    b = b.add_extension(ski, critical=False)
    if issuer_cert is not None:
        issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                            critical=False)
    if profile.policies:
        b = b.add_extension(x509.CertificatePolicies([x509.PolicyInformation(
            ObjectIdentifier(profiles.policy_oid), None)]), critical=False)
    if profile.crl_dp:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(f"{base_url}/pki/{profile.crl_dp}")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    if profile.freshest_crl:
        b = b.add_extension(x509.FreshestCRL([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(f"{base_url}/pki/{profile.freshest_crl}")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    access = []
    if profile.ocsp:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                             x509.UniformResourceIdentifier(f"{base_url}/ocsp")))
    if profile.aia:
        access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                             x509.UniformResourceIdentifier(f"{base_url}/pki/{profile.aia}")))
    if access:
        b = b.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if profile.ocsp_nocheck:
        b = b.add_extension(x509.OCSPNoCheck(), critical=False)
    if profile.qc_semantics:
        b = b.add_extension(qc_semantics_extension(profile.qc_semantics), critical=False)
    if email:
        b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    signing_key = issuer_key
    return b.sign(signing_key, hash_for(signing_key))
