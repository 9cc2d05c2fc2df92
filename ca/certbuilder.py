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

from ca import der
from ca.errors import WeakKey
from ca.weakkeys import rsa_weakness
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
        if bits % 8:  # CA/B Forum BR §6.1.5
            raise WeakKey(f"An RSA modulus must be a whole number of bytes (this one has {bits} bits)",
                          f"Mô-đun RSA phải có số bit chia hết cho 8 (mô-đun này {bits} bit)")
        if bits > profiles.rsa_max_bits:
            raise WeakKey(f"RSA keys may have at most {profiles.rsa_max_bits} bits (this one has {bits})",
                          f"Khóa RSA dài tối đa {profiles.rsa_max_bits} bit (khóa này {bits} bit)")
        numbers = public_key.public_numbers()
        if numbers.e < 65537 or numbers.e % 2 == 0 or numbers.e.bit_length() > 256:  # CA/B Forum BR §6.1.6
            raise WeakKey("The RSA public exponent must be an odd number from 65537 to 2^256 − 1",
                          "Số mũ công khai RSA phải là số lẻ từ 65537 đến 2^256 − 1")
        weakness = rsa_weakness(numbers.n, numbers.e)
        if weakness is not None:
            _, english, vietnamese = weakness
            raise WeakKey(f"This RSA key is known to be weak: {english}",
                          f"Khóa RSA này có điểm yếu đã biết: {vietnamese}")
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


def qc_semantics_extension(kind: str) -> x509.UnrecognizedExtension:
    """qcStatements { QCStatement { id-qcs-pkixQCSyntax-v2, SemanticsInformation { semanticsId } } }."""
    semantics = der.seq(der.oid(_SEMANTICS[kind]))
    statement = der.seq(der.oid(_QC_SYNTAX_V2), semantics)
    return x509.UnrecognizedExtension(_QC_STATEMENTS, der.seq(statement))


class CertificateTemplate:
    """What a profile fixes for one issuer and base URL — the extensions except SKI — built once and reused
    for every certificate (issuance builds the same eight extension objects thousands of times otherwise)."""

    def __init__(self, profile: Profile, profiles: ProfileSet, issuer_cert: x509.Certificate | None,
                 base_url: str):
        self.profile = profile
        self.issuer_cert = issuer_cert
        self.issuer_not_after = issuer_cert.not_valid_after_utc if issuer_cert is not None else None
        self.validity = dt.timedelta(days=profile.validity_days)
        head: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=profile.ca, path_length=profile.path_len if profile.ca else None), True)]
        ku = {name: name in profile.key_usage for name in _KU_NAMES}
        ku["encipher_only"] = ku["decipher_only"] = False
        head.append((x509.KeyUsage(**ku), profile.key_usage_critical))
        if profile.eku:
            head.append((x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in profile.eku]), profile.eku_critical))
        # the SKI of the subject's own key goes here, between head and tail
        tail: list[tuple[x509.ExtensionType, bool]] = []
        if issuer_cert is not None:
            issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            tail.append((x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), False))
        if profile.policies:
            tail.append((x509.CertificatePolicies([x509.PolicyInformation(
                ObjectIdentifier(profiles.policy_oid), None)]), False))
        if profile.crl_dp:
            tail.append((x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(f"{base_url}/pki/{profile.crl_dp}")],
                relative_name=None, reasons=None, crl_issuer=None)]), False))
        if profile.freshest_crl:
            tail.append((x509.FreshestCRL([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(f"{base_url}/pki/{profile.freshest_crl}")],
                relative_name=None, reasons=None, crl_issuer=None)]), False))
        access = []
        if profile.ocsp:
            access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                                 x509.UniformResourceIdentifier(f"{base_url}/ocsp")))
        if profile.aia:
            access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                                 x509.UniformResourceIdentifier(f"{base_url}/pki/{profile.aia}")))
        if access:
            tail.append((x509.AuthorityInformationAccess(access), False))
        if profile.ocsp_nocheck:
            tail.append((x509.OCSPNoCheck(), False))
        if profile.qc_semantics:
            tail.append((qc_semantics_extension(profile.qc_semantics), False))
        self._head, self._tail = head, tail

    def build(self, *, subject: x509.Name, public_key: Any, issuer_key: Any, serial: int, not_before: dt.datetime,
              not_after: dt.datetime | None = None, email: str | None = None) -> x509.Certificate:
        """Build and sign one certificate. A template without issuer makes a self-signed (root) certificate."""
        if not_after is None:
            not_after = not_before + self.validity
        if self.issuer_not_after is not None and not_after > self.issuer_not_after:
            not_after = self.issuer_not_after  # never outlive the issuer (RFC 5280 practice)
        issuer_name = subject if self.issuer_cert is None else self.issuer_cert.subject
        b = (x509.CertificateBuilder()
             .subject_name(subject)
             .issuer_name(issuer_name)
             .public_key(public_key)
             .serial_number(serial)
             .not_valid_before(not_before)
             .not_valid_after(not_after))
        for ext, critical in self._head:
            b = b.add_extension(ext, critical=critical)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        for ext, critical in self._tail:
            b = b.add_extension(ext, critical=critical)
        if email:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        return b.sign(issuer_key, hash_for(issuer_key))


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
    return CertificateTemplate(profile, profiles, issuer_cert, base_url).build(
        subject=subject, public_key=public_key, issuer_key=issuer_key, serial=serial, not_before=not_before,
        not_after=not_after, email=email)
