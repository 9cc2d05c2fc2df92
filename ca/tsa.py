"""Time-stamping authority (RFC 3161, with the ESS signingCertificateV2 of RFC 5816), signed by the TSA
certificate's key in the HSM.

``respond(authority, query_der)`` never raises for bad input: it answers a TimeStampResp whose status is
``rejection`` with a failure info (badRequest, badDataFormat, badAlg, unacceptedPolicy, unacceptedExtension)
and a Vietnamese/English status string, or ``granted`` with a token. Policy: ``settings.tsa_policy_oid`` when
the settings carry one (``KYSO_TSA_POLICY_OID``), else :data:`DEFAULT_POLICY`. Serial numbers are random
127-bit integers (no database round trip per token; a collision has probability ~2^-63 after 2^64 tokens).
The token's genTime has millisecond precision; the accuracy declared is :data:`ACCURACY_MS`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from typing import Any

from asn1crypto import tsp as asn1_tsp
from cryptography.hazmat.primitives import serialization

from ca import der

log = logging.getLogger("kyso.tsa")

# A placeholder under the Vietnamese government arc (as the certificate policy in ca/profiles.json) until the
# CP/CPS assigns the TSA policy; configurable (KYSO_TSA_POLICY_OID), see docs/revocation.md.
DEFAULT_POLICY = "2.16.704.1.1.1.2.1"
ACCURACY_MS = 500
MAX_QUERY_BYTES = 16 * 1024

OID_TSTINFO = "1.2.840.113549.1.9.16.1.4"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"

# message imprint hash -> digest size
ACCEPTED_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64, "sha3_256": 32, "sha3_384": 48, "sha3_512": 64}

# PKIFailureInfo bit numbers (RFC 3161 §2.4.2)
FAILURES = {"badAlg": 0, "badRequest": 2, "badDataFormat": 5, "timeNotAvailable": 14, "unacceptedPolicy": 15,
            "unacceptedExtension": 16, "addInfoNotAvailable": 17, "systemFailure": 25}
_FAILURE_TEXT = {
    "badAlg": ("Thuật toán băm không được hỗ trợ", "unsupported or weak hash algorithm"),
    "badRequest": ("Yêu cầu không hợp lệ", "the request is not allowed"),
    "badDataFormat": ("Yêu cầu không đúng định dạng RFC 3161", "not a well-formed RFC 3161 request"),
    "unacceptedPolicy": ("Chính sách cấp dấu thời gian không được chấp nhận", "the requested policy is not accepted"),
    "unacceptedExtension": ("Phần mở rộng không được hỗ trợ", "the requested extension is not supported"),
    "systemFailure": ("Lỗi hệ thống TSA", "TSA system failure"),
}


class Rejection(ValueError):
    def __init__(self, failure: str, detail: str = ""):
        super().__init__(detail or failure)
        self.failure = failure


def fail_info(failure: str) -> bytes:
    """PKIFailureInfo as a DER named BIT STRING (trailing zero bits removed)."""
    bit = FAILURES[failure]
    data = bytearray(bit // 8 + 1)
    data[bit // 8] = 0x80 >> (bit % 8)
    return der.bits(bytes(data), 7 - bit % 8)


def rejection(failure: str) -> bytes:
    vi, en = _FAILURE_TEXT.get(failure, ("Yêu cầu bị từ chối", "rejected"))
    status = der.seq(der.integer(2), der.seq(der.utf8(f"{vi} / {en}")), fail_info(failure))
    return der.seq(status)


def policy_oid(settings: Any) -> str:
    return getattr(settings, "tsa_policy_oid", None) or DEFAULT_POLICY


class _Tsa:
    """Per-process parts of every token that do not change: certificates, signer identifier, ESS attribute."""

    def __init__(self, authority: Any):
        self.cert_id = authority.ca_id("tsa")
        cert = authority.ca_cert("tsa")
        issuing = authority.ca_cert("issuing")
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        issuing_der = issuing.public_bytes(serialization.Encoding.DER)
        issuer_name = cert.issuer.public_bytes()
        self.key = authority.ca_key("tsa")
        self.sig_alg = der.signature_algorithm(self.key)
        self.policy = policy_oid(authority.settings)
        self.policy_der = der.oid(self.policy)
        self.tsa_name = der.explicit(0, der.explicit(4, cert.subject.public_bytes()))
        self.accuracy = der.seq(der.implicit(0, der.integer(ACCURACY_MS)[2:]))
        self.hash_name = der.signature_hash(self.key).name  # sha256, or sha384 for a P-384 key
        self.digest_alg = der.seq(der.oid(der.HASH_OIDS[self.hash_name]))
        self.sid = der.seq(issuer_name, der.integer(cert.serial_number))
        issuer_serial = der.seq(der.seq(der.explicit(4, issuer_name)), der.integer(cert.serial_number))
        ess = der.seq(der.seq(der.seq(der.octets(hashlib.sha256(self.cert_der).digest()), issuer_serial)))
        self.attr_content_type = der.seq(der.oid(OID_CONTENT_TYPE), der.set_of(der.oid(OID_TSTINFO)))
        self.attr_signing_cert = der.seq(der.oid(OID_SIGNING_CERT_V2), der.set_of(ess))
        self.certificates = der.implicit(0, self.cert_der + issuing_der, constructed=True)


def _tsa(authority: Any) -> _Tsa:
    """This process's TSA state, rebuilt when the TSA certificate was renewed."""
    return authority.role_state("tsa", _Tsa)


def parse_query(query_der: bytes, policy: str) -> tuple[bytes, bytes | None, bool]:
    """(MessageImprint DER, nonce INTEGER DER or None, certReq). Raises :class:`Rejection`."""
    if not isinstance(query_der, (bytes, bytearray)) or not query_der or len(query_der) > MAX_QUERY_BYTES:
        raise Rejection("badDataFormat", "empty or oversized query")
    try:
        req = asn1_tsp.TimeStampReq.load(bytes(query_der), strict=True)
        version = req["version"].native
        imprint = req["message_imprint"]
        alg = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        req_policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
        nonce = req["nonce"]
        nonce_der = nonce.dump() if nonce.native is not None else None
        cert_req = bool(req["cert_req"].native)
        has_extensions = req["extensions"].native is not None
        imprint_der = imprint.dump()
    except Rejection:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many types for garbage
        raise Rejection("badDataFormat", f"unreadable query: {type(exc).__name__}") from None
    if version != "v1":
        raise Rejection("badDataFormat", "version 1 expected")
    if alg not in ACCEPTED_HASHES:
        raise Rejection("badAlg", f"hash {alg} not accepted")
    if not isinstance(digest, bytes) or len(digest) != ACCEPTED_HASHES[alg]:
        raise Rejection("badDataFormat", "the message imprint has the wrong length")
    if req_policy is not None and req_policy != policy:
        raise Rejection("unacceptedPolicy", f"policy {req_policy} not accepted")
    if has_extensions:
        raise Rejection("unacceptedExtension", "no extensions are supported")
    return imprint_der, nonce_der, cert_req


def respond(authority: Any, query_der: bytes) -> bytes:
    """A TimeStampResp (DER) for ``query_der``. Never raises."""
    try:
        state = _tsa(authority)
        imprint, nonce, cert_req = parse_query(query_der, state.policy)
        return token_response(state, authority.clock(), imprint, nonce, cert_req)
    except Rejection as rej:
        return rejection(rej.failure)
    except Exception as exc:  # noqa: BLE001 - every query gets a TimeStampResp
        log.error("TSA failure: %s", exc, exc_info=True)
        return rejection("systemFailure")


def token_response(state: _Tsa, now: dt.datetime, imprint: bytes, nonce: bytes | None, cert_req: bool) -> bytes:
    serial = secrets.randbits(127) | (1 << 126)
    tst = der.seq(der.integer(1), state.policy_der, imprint, der.integer(serial),
                  der.generalized_time(now, fraction_digits=3), state.accuracy, nonce or b"", state.tsa_name)
    attrs = der.set_of(state.attr_content_type,
                       der.seq(der.oid(OID_MESSAGE_DIGEST), der.set_of(der.octets(hashlib.new(state.hash_name, tst).digest()))),
                       state.attr_signing_cert)
    signature = der.sign(state.key, attrs)
    signer_info = der.seq(der.integer(1), state.sid, state.digest_alg, b"\xa0" + attrs[1:], state.sig_alg,
                          der.octets(signature))
    signed_data = der.seq(der.integer(3), der.set_of(state.digest_alg),
                          der.seq(der.oid(OID_TSTINFO), der.explicit(0, der.octets(tst))),
                          state.certificates if cert_req else b"", der.set_of(signer_info))
    token = der.seq(der.oid(OID_SIGNED_DATA), der.explicit(0, signed_data))
    return der.seq(der.seq(der.integer(0)), token)
