"""Long-term validation material for PAdES B-LT: certificates, CRLs and OCSP responses for the signer's chain
*and* the TSA's chain, taken straight from kyso's CA (``ca.revocation``, ``ca.ocsp``), and written into the
document security store (DSS) with a VRI entry for the signature, so validators (Adobe's "LTV enabled", EU DSS,
pyHanko) need nothing from the network.

Material is cached per process for :data:`TTL` seconds (CRLs and OCSP answers are valid far longer), so
B-LT costs little more than B-T. The cache hangs off the authority object (a weak-key dictionary: a new
authority starts empty, and an ``id()`` reused by another object can never find an old entry); the material
for one signer is rebuilt when its certificate or any CA certificate object of the authority changes.
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from asn1crypto import crl as asn1_crl, ocsp as asn1_ocsp, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signer.timestamping import ca_module

TTL = 60.0
_CACHE: "weakref.WeakKeyDictionary[Any, dict[tuple, tuple[float, Any]]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
CA_ROLES = ("issuing", "root", "tsa", "ocsp")


@dataclass
class Material:
    certs: list[asn1_x509.Certificate]
    crls: list[asn1_crl.CertificateList]
    ocsps: list[asn1_ocsp.OCSPResponse]


def _cached(authority: Any, key: tuple, make: Any) -> Any:
    now = time.monotonic()
    with _LOCK:
        entries = _CACHE.get(authority)
        if entries is None:
            entries = _CACHE[authority] = {}
        hit = entries.get(key)
    if hit is not None and now - hit[0] < TTL:
        return hit[1]
    value = make()
    with _LOCK:
        entries[key] = (now, value)
    return value


def as_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def ocsp_response(authority: Any, cert: x509.Certificate, issuer: x509.Certificate) -> asn1_ocsp.OCSPResponse:
    """kyso's OCSP responder's answer for ``cert`` (in-process), cached for :data:`TTL` seconds."""
    def make() -> asn1_ocsp.OCSPResponse:
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        der = ca_module("ocsp").respond(authority, req.public_bytes(serialization.Encoding.DER))
        return asn1_ocsp.OCSPResponse.load(der)

    return _cached(authority, ("ocsp", issuer.fingerprint(hashes.SHA256()), cert.serial_number), make)


def crl(authority: Any, role: str) -> asn1_crl.CertificateList:
    return _cached(authority, ("crl", role),
                   lambda: asn1_crl.CertificateList.load(ca_module("revocation").current_crl(authority, role=role)))


def material(authority: Any, signer_cert: x509.Certificate) -> Material:
    """Everything a validator needs for the signer's and the TSA's chains, and the OCSP responder's
    (cached for :data:`TTL` seconds per signer certificate and set of CA certificates)."""
    cas = tuple(authority.ca_cert(role) for role in CA_ROLES)
    der = signer_cert.public_bytes(serialization.Encoding.DER)

    def make() -> tuple[tuple, Material]:
        issuing, root, tsa, ocsp_cert = cas
        certs = [as_asn1(c) for c in (signer_cert, issuing, root, tsa, ocsp_cert)]
        crls = [crl(authority, "issuing"), crl(authority, "root")]
        ocsps = [ocsp_response(authority, signer_cert, issuing), ocsp_response(authority, tsa, issuing)]
        return cas, Material(certs=certs, crls=crls, ocsps=ocsps)

    made_for, mat = _cached(authority, ("material", der), make)
    if any(a is not b for a, b in zip(made_for, cas)):  # a CA certificate was replaced: build afresh
        with _LOCK:
            _CACHE.get(authority, {}).pop(("material", der), None)
        made_for, mat = _cached(authority, ("material", der), make)
    return mat


def add_dss(pdf: bytes, sig_contents: bytes | None, mat: Material) -> bytes:
    """``pdf`` plus an incremental update adding ``mat`` to the DSS (VRI keyed on ``sig_contents``)."""
    out = BytesIO(pdf)
    DocumentSecurityStore.add_dss(out, sig_contents, certs=mat.certs, ocsps=mat.ocsps, crls=mat.crls,
                                  force_write=True, strict=False)
    return out.getvalue()
