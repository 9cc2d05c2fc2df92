"""A few DER encoders for the hot paths (CRLs, OCSP responses, timestamp tokens): byte concatenation only.

Parsing stays with asn1crypto/cryptography; these helpers only *write* the handful of types kyso emits, so a
million-entry CRL or thousands of OCSP responses a second are not bound by an object model.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """DER SET OF: members sorted by their encodings (X.690 §11.6)."""
    return tlv(0x31, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    if value == 0:
        return b"\x02\x01\x00"
    size = (value.bit_length() + 8) // 8 if value > 0 else (value.bit_length() + 8) // 8
    return tlv(0x02, value.to_bytes(size, "big", signed=True))


def boolean(value: bool) -> bytes:
    return b"\x01\x01\xff" if value else b"\x01\x01\x00"


def enumerated(value: int) -> bytes:
    return tlv(0x0A, value.to_bytes(1, "big"))


NULL = b"\x05\x00"


def octets(data: bytes) -> bytes:
    return tlv(0x04, data)


def bits(data: bytes, unused: int = 0) -> bytes:
    return tlv(0x03, bytes((unused,)) + data)


@lru_cache(maxsize=256)
def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray()
    for i, n in enumerate([parts[0] * 40 + parts[1], *parts[2:]]):
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def explicit(number: int, content: bytes) -> bytes:
    """[number] EXPLICIT (constructed, context-specific)."""
    return tlv(0xA0 | number, content)


def implicit(number: int, content: bytes, constructed: bool = False) -> bytes:
    return tlv((0xA0 if constructed else 0x80) | number, content)


def utf8(text: str) -> bytes:
    return tlv(0x0C, text.encode("utf-8"))


def generalized_time(value: dt.datetime, *, fraction_digits: int = 0) -> bytes:
    value = value.astimezone(dt.timezone.utc)
    text = value.strftime("%Y%m%d%H%M%S")
    if fraction_digits:
        frac = f"{value.microsecond:06d}"[:fraction_digits].rstrip("0")
        if frac:
            text += "." + frac
    return tlv(0x18, (text + "Z").encode())


def time(value: dt.datetime) -> bytes:
    """RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050."""
    value = value.astimezone(dt.timezone.utc)
    if 1950 <= value.year < 2050:
        return tlv(0x17, value.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, value.strftime("%Y%m%d%H%M%SZ").encode())


def extension(dotted: str, value_der: bytes, critical: bool = False) -> bytes:
    return seq(oid(dotted), boolean(True) if critical else b"", octets(value_der))


# -- signatures ------------------------------------------------------------------------------------
_SIG_OIDS = {
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("rsa", "sha384"): "1.2.840.113549.1.1.12",
    ("rsa", "sha512"): "1.2.840.113549.1.1.13",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha384"): "1.2.840.10045.4.3.3",
    ("ec", "sha512"): "1.2.840.10045.4.3.4",
}
HASH_OIDS = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}


def signature_hash(key: object) -> hashes.HashAlgorithm:
    """SHA-256, or SHA-384 for P-384 keys (as ca.certbuilder.hash_for)."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def signature_algorithm(key: object) -> bytes:
    """The AlgorithmIdentifier DER for signing with ``key``."""
    alg = signature_hash(key)
    if isinstance(key, rsa.RSAPrivateKey):
        return seq(oid(_SIG_OIDS[("rsa", alg.name)]), NULL)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return seq(oid(_SIG_OIDS[("ec", alg.name)]))
    raise TypeError(f"cannot sign with {type(key).__name__}")


def sign(key: object, data: bytes) -> bytes:
    """The signature value (RSA PKCS#1 v1.5 or ECDSA, DER r/s) over ``data``; runs in the HSM for kyso keys."""
    alg = signature_hash(key)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), alg)
    return key.sign(data, ec.ECDSA(alg))


def signed(tbs: bytes, key: object, alg_id: bytes | None = None) -> bytes:
    """SEQUENCE { tbs, signatureAlgorithm, signature BIT STRING } (certificates, CRLs)."""
    alg_id = alg_id or signature_algorithm(key)
    return seq(tbs, alg_id, bits(sign(key, tbs)))


def public_key_bits(public_key: object) -> bytes:
    """The subjectPublicKey BIT STRING's bytes (what OCSP CertID and SKI methods hash)."""
    from cryptography.hazmat.primitives import serialization

    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    raise TypeError(f"unsupported public key {type(public_key).__name__}")
