"""OCSP responder (RFC 6960) for the certificates of the issuing CA, signed by the delegated OCSP certificate's
key in the HSM (the certificate travels in every response).

``respond(authority, request_der)`` never raises for bad input: garbage gets ``malformedRequest``, a request
about a CA this responder does not serve ``unauthorized``, a failure of the HSM or database
``internalError``/``tryLater``. Several certificates per request are answered in one query; a nonce is echoed.
Responses to nonce-less requests are cached per process until half their validity has passed, keyed by the
request *and* the statuses just read from the database, so a revocation is visible at once on every worker.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from typing import Any

from asn1crypto import ocsp as asn1_ocsp
from cryptography.hazmat.primitives import serialization

from ca import der
from ca.crl_der import REASON_CODES

log = logging.getLogger("kyso.ocsp")

OID_BASIC = "1.3.6.1.5.5.7.48.1.1"
OID_NONCE = "1.3.6.1.5.5.7.48.1.2"
MAX_REQUEST_BYTES = 64 * 1024
MAX_CERTS_PER_REQUEST = 100
MAX_NONCE_BYTES = 128
CACHE_ENTRIES = 20_000

# OCSPResponseStatus (RFC 6960 §4.2.1) without responseBytes
MALFORMED = der.seq(der.enumerated(1))
INTERNAL_ERROR = der.seq(der.enumerated(2))
TRY_LATER = der.seq(der.enumerated(3))
UNAUTHORIZED = der.seq(der.enumerated(6))

_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
_GOOD = b"\x80\x00"
_UNKNOWN = b"\x82\x00"


class _Responder:
    """Per-process state: the issuer's name and key hashes, the responder's certificate and key, the cache."""

    def __init__(self, authority: Any):
        self.authority = authority
        issuer = authority.ca_cert("issuing")
        name_der = issuer.subject.public_bytes()
        key_bits = der.public_key_bits(issuer.public_key())
        self.issuers = {(alg, fn(name_der).digest(), fn(key_bits).digest()): "issuing" for alg, fn in _HASHES.items()}
        self.cert_id = authority.ca_id("ocsp")
        cert = authority.ca_cert("ocsp")
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        resp_bits = der.public_key_bits(cert.public_key())
        self.responder_id = der.explicit(2, der.octets(hashlib.sha1(resp_bits).digest()))  # byKey
        self.key = authority.ca_key("ocsp")
        self.alg_id = der.signature_algorithm(self.key)
        self.certs = der.explicit(0, der.seq(self.cert_der))
        self.validity = dt.timedelta(minutes=authority.settings.ocsp_validity_minutes)
        self.cache: dict[tuple, tuple[bytes, dt.datetime]] = {}
        self.lock = threading.Lock()


def _responder(authority: Any) -> _Responder:
    """This process's responder state, rebuilt (cache included) when the OCSP certificate was renewed."""
    return authority.role_state("ocsp", _Responder)


def parse_request(request_der: bytes) -> tuple[list[tuple[bytes, str, bytes, bytes, int]], bytes | None]:
    """[(CertID DER, hash name, issuerNameHash, issuerKeyHash, serial)], nonce extension value (or None).
    Raises ValueError for anything that is not a well-formed OCSPRequest."""
    if not isinstance(request_der, (bytes, bytearray)) or not request_der or len(request_der) > MAX_REQUEST_BYTES:
        raise ValueError("empty or oversized request")
    try:
        req = asn1_ocsp.OCSPRequest.load(bytes(request_der), strict=True)
        tbs = req["tbs_request"]
        if tbs["version"].native != "v1":
            raise ValueError("unsupported version")
        items = []
        for single in tbs["request_list"]:
            cid = single["req_cert"]
            items.append((cid.dump(), cid["hash_algorithm"]["algorithm"].native, cid["issuer_name_hash"].native,
                          cid["issuer_key_hash"].native, cid["serial_number"].native))
        nonce = None
        for ext in tbs["request_extensions"] or []:
            if ext["extn_id"].dotted == OID_NONCE:
                nonce = ext["extn_value"].contents
                if not 0 < len(_nonce_value(nonce)) <= MAX_NONCE_BYTES:
                    raise ValueError("bad nonce")
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many types for garbage
        raise ValueError(f"unreadable request: {type(exc).__name__}") from None
    if not items or len(items) > MAX_CERTS_PER_REQUEST:
        raise ValueError("no or too many certificates in the request")
    if any(not isinstance(i[4], int) or i[4] < 0 for i in items):
        raise ValueError("bad serial")
    return items, nonce


def _nonce_value(raw: bytes) -> bytes:
    """The nonce octets: RFC 8954 wraps them in an OCTET STRING; some old clients send them bare."""
    if len(raw) >= 2 and raw[0] == 0x04 and raw[1] < 0x80 and len(raw) == raw[1] + 2:
        return raw[2:]
    return raw


def _cert_status(state: str, revoked_at: dt.datetime | None, reason: str | None) -> bytes:
    if state == "good":
        return _GOOD
    if state == "revoked":
        body = der.generalized_time(revoked_at)
        code = REASON_CODES.get(reason or "unspecified", 0)
        if code:
            body += der.explicit(0, der.enumerated(code))
        return der.implicit(1, body, constructed=True)
    return _UNKNOWN


def respond(authority: Any, request_der: bytes) -> bytes:
    """An OCSPResponse (DER) for ``request_der``. Never raises."""
    try:
        items, nonce = parse_request(request_der)
    except ValueError:
        return MALFORMED
    try:
        return _respond(authority, items, nonce)
    except Exception as exc:  # noqa: BLE001 - the responder answers every request with an OCSPResponse
        from ca.errors import Unavailable

        log.error("OCSP responder failure: %s", exc, exc_info=not isinstance(exc, Unavailable))
        return TRY_LATER if isinstance(exc, Unavailable) else INTERNAL_ERROR


def _respond(authority: Any, items: list, nonce: bytes | None) -> bytes:
    from ca.revocation import status_many

    responder = _responder(authority)
    known = [(cid, serial) for cid, alg, name_hash, key_hash, serial in items
             if (alg, name_hash, key_hash) in responder.issuers]
    if not known:
        return UNAUTHORIZED
    statuses = status_many(authority, [serial for _cid, serial in known], "issuing")
    known_cids = {cid for cid, _ in known}
    per_item = [statuses[serial] if cid in known_cids else ("unknown", None, None)
                for cid, _alg, _n, _k, serial in items]
    now = authority.clock()
    key = None
    if nonce is None:
        key = (tuple(i[0] for i in items), tuple(per_item))
        hit = responder.cache.get(key)
        if hit is not None and now < hit[1]:
            return hit[0]
    produced = now.replace(microsecond=0)
    this_update = der.generalized_time(produced)
    next_update = der.explicit(0, der.generalized_time(produced + responder.validity))
    singles = b"".join(der.seq(item[0], _cert_status(*state), this_update, next_update)
                       for item, state in zip(items, per_item))
    exts = der.explicit(1, der.seq(der.extension(OID_NONCE, nonce))) if nonce is not None else b""
    tbs = der.seq(responder.responder_id, this_update, der.seq(singles), exts)
    basic = der.seq(tbs, responder.alg_id, der.bits(der.sign(responder.key, tbs)), responder.certs)
    response = der.seq(der.enumerated(0), der.explicit(0, der.seq(der.oid(OID_BASIC), der.octets(basic))))
    if key is not None:
        with responder.lock:
            if len(responder.cache) >= CACHE_ENTRIES:
                responder.cache.clear()
            responder.cache[key] = (response, produced + responder.validity / 2)
    return response


def is_successful(response_der: bytes) -> bool:
    """Whether an OCSPResponse made here carries status successful(0) (e.g. to allow HTTP caching)."""
    if len(response_der) < 5 or response_der[0] != 0x30:
        return False
    first = response_der[1]
    offset = 2 + (first & 0x7F if first & 0x80 else 0)
    return response_der[offset:offset + 3] == b"\x0a\x01\x00"
