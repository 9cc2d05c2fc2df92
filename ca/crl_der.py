"""CRL v2 DER (RFC 5280 §5) written by hand: entries are pre-encoded once (at revocation) and a CRL is the
concatenation of its entries inside a TBSCertList, signed by the CA key in the HSM.

cryptography's ``CertificateRevocationListBuilder`` needs 6.35 s for a million entries; concatenating stored
entries and hashing the result takes a fraction of that (see docs/performance.md).
"""
from __future__ import annotations

import datetime as dt

from cryptography import x509

from ca import der

# RFC 5280 §5.3.1 CRLReason
REASON_CODES = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
REASON_NAMES = {v: k for k, v in REASON_CODES.items()}

OID_AKI = "2.5.29.35"
OID_CRL_NUMBER = "2.5.29.20"
OID_REASON = "2.5.29.21"
OID_INVALIDITY = "2.5.29.24"
OID_DELTA_INDICATOR = "2.5.29.27"
OID_IDP = "2.5.29.28"
OID_FRESHEST = "2.5.29.46"


def encode_entry(serial: int, revoked_at: dt.datetime, reason: str,
                 invalidity_date: dt.datetime | None = None) -> bytes:
    """One revokedCertificates entry. ``unspecified`` carries no reasonCode (RFC 5280 §5.3.1: SHOULD be absent)."""
    exts = b""
    code = REASON_CODES[reason]
    if code:
        exts += der.extension(OID_REASON, der.enumerated(code))
    if invalidity_date is not None:
        exts += der.extension(OID_INVALIDITY, der.generalized_time(invalidity_date))
    return der.seq(der.integer(serial), der.time(revoked_at), der.seq(exts) if exts else b"")


def _dp_name(url: str) -> bytes:
    """DistributionPointName fullName [0] with one URI, inside distributionPoint [0]."""
    return der.implicit(0, der.implicit(0, der.tlv(0x86, url.encode("ascii")), constructed=True), constructed=True)


def build(*, issuer_cert: x509.Certificate, key: object, number: int, this_update: dt.datetime,
          next_update: dt.datetime, entries: bytes | list[bytes], idp_url: str | None, only_ca_certs: bool,
          delta_base: int | None = None, freshest_url: str | None = None) -> bytes:
    """The signed CRL. ``entries``: pre-encoded entries (a list, or already concatenated; any order). ``idp_url=None``: an IDP
    without a distribution point name (the root's ARL: a self-signed root has no CRL distribution point, and
    OpenSSL's ``-crl_check_all`` then refuses an ARL whose IDP names one, "different CRL scope")."""
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    idp = der.seq(_dp_name(idp_url) if idp_url else b"", der.implicit(2 if only_ca_certs else 1, b"\xff"))
    exts = [
        der.extension(OID_AKI, der.seq(der.implicit(0, ski))),
        der.extension(OID_CRL_NUMBER, der.integer(number)),
    ]
    if delta_base is not None:
        exts.append(der.extension(OID_DELTA_INDICATOR, der.integer(delta_base), critical=True))
    exts.append(der.extension(OID_IDP, idp, critical=True))
    if freshest_url is not None and delta_base is None:
        exts.append(der.extension(OID_FRESHEST, der.seq(der.seq(_dp_name(freshest_url)))))
    alg = der.signature_algorithm(key)
    head = (der.integer(1) + alg + issuer_cert.subject.public_bytes() + der.time(this_update)  # v2
            + der.time(next_update))
    tail = der.explicit(0, der.seq(*exts))
    if isinstance(entries, (bytes, bytearray)):
        entries = [entries]
    size = sum(map(len, entries))
    list_header = (b"\x30" + der.length(size)) if size else b""
    tbs_len = len(head) + len(list_header) + size + len(tail)
    # one copy of the (possibly 50 MB) entries: headers are computed from the lengths first
    tbs = b"".join([b"\x30", der.length(tbs_len), head, list_header, *entries, tail])
    signature = der.bits(der.sign(key, tbs))
    return b"".join([b"\x30", der.length(len(tbs) + len(alg) + len(signature)), tbs, alg, signature])
