"""Long-term validation material for PAdES B-LT: certificates, CRLs and OCSP responses for the signer's chain
*and* the TSA's chain, taken straight from kyso's CA (``ca.revocation``, ``ca.ocsp``), and written into the
document security store (DSS) with a VRI entry for the signature, so validators (Adobe's "LTV enabled", EU DSS,
pyHanko) need nothing from the network.

Material is cached per process for :data:`TTL` seconds (CRLs and OCSP answers are valid far longer), so
B-LT costs little more than B-T.
"""
from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from typing import Any

from asn1crypto import crl as asn1_crl, ocsp as asn1_ocsp, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signer.timestamping import ca_module

TTL = 60.0
_CACHE: dict[tuple, tuple[float, Any]] = {}
_LOCK = threading.Lock()


@dataclass
class Material:
    certs: list[asn1_x509.Certificate]
    crls: list[asn1_crl.CertificateList]
    ocsps: list[asn1_ocsp.OCSPResponse]


def _cached(key: tuple, make: Any) -> Any:
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and now - hit[0] < TTL:
        return hit[1]
    value = make()
    with _LOCK:
        _CACHE[key] = (now, value)
    return value


def as_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def ocsp_response(authority: Any, cert: x509.Certificate, issuer: x509.Certificate) -> asn1_ocsp.OCSPResponse:
    """kyso's OCSP responder's answer for ``cert`` (in-process), cached for :data:`TTL` seconds."""
    def make() -> asn1_ocsp.OCSPResponse:
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        der = ca_module("ocsp").respond(authority, req.public_bytes(serialization.Encoding.DER))
        return asn1_ocsp.OCSPResponse.load(der)

    return _cached(("ocsp", id(authority), cert.serial_number), make)


def crl(authority: Any, role: str) -> asn1_crl.CertificateList:
    return _cached(("crl", id(authority), role),
                   lambda: asn1_crl.CertificateList.load(ca_module("revocation").current_crl(authority, role=role)))


def material(authority: Any, signer_cert: x509.Certificate) -> Material:
    """Everything a validator needs for the signer's and the TSA's chains, and the OCSP responder's."""
    issuing = authority.ca_cert("issuing")
    root = authority.ca_cert("root")
    tsa = authority.ca_cert("tsa")
    ocsp_cert = authority.ca_cert("ocsp")
    certs = [as_asn1(c) for c in (signer_cert, issuing, root, tsa, ocsp_cert)]
    crls = [crl(authority, "issuing"), crl(authority, "root")]
    ocsps = [ocsp_response(authority, signer_cert, issuing), ocsp_response(authority, tsa, issuing)]
    return Material(certs=certs, crls=crls, ocsps=ocsps)


def add_dss(pdf: bytes, sig_contents: bytes | None, mat: Material) -> bytes:
    """``pdf`` plus an incremental update adding ``mat`` to the DSS (VRI keyed on ``sig_contents``)."""
    out = io.BytesIO(pdf)
    DocumentSecurityStore.add_dss(out, sig_contents, certs=mat.certs, ocsps=mat.ocsps, crls=mat.crls,
                                  force_write=True, strict=False)
    return out.getvalue()
