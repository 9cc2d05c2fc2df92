"""Two hot spots of a verification made cheaper, with results unchanged (pyHanko 0.38, asn1crypto 1.5).

1. A faster hex-string reader for pyHanko's PDF parser.

pyHanko reads ``<...>`` hex strings one byte at a time through a generator; a PAdES B-LT signature's
``/Contents`` is a 20–60 KB hex string, so that loop was a third of a verification's CPU time (profiled:
~870,000 tokenizer calls for 30 verifications). This reader finds the closing ``>`` with ``bytes.find`` and
decodes with ``binascii``; it returns the same object for every input the original accepts and raises the same
``PdfStreamError`` otherwise. Inputs with a ``%`` (a comment inside a hex string) go to the original reader,
so comment handling stays pyHanko's.

2. Memoised X.509 name comparison. asn1crypto compares names (path building, issuer/serial matching) by
running RFC 4518 string preparation on every attribute of both names *at every comparison*, ~20% of a
verification. The prepared values depend only on the RDN's DER encoding, so they are cached by that encoding
(bounded, thread-safe enough: a dict insert is atomic and a lost race only recomputes).

3. Memoised X.509 name equality. Even with (2), comparing two names re-parses every RDN of both (types, values)
at each comparison; pyHanko compares the same few names (kyso's CAs, the signer) dozens of times per
verification (ESS signing-certificate checks, issuer/serial matching, path building). ``Name.__eq__`` is a
function of the two DER encodings only, so its answer is cached by that pair (same bound as above).

4. Certificates parsed once per process. pyHanko parses the certificates of every CMS it reads (signature and
timestamp token) from scratch, then derives the same values again and again (extensions, key identifiers, name
hashes, public keys) for ESS checks, issuer matching and path validation. The certificates kyso sees are few
(its CAs, the TSA, the signers), so :func:`intern_certificate` hands out one fully parsed object per DER
encoding: the same bytes, so the same certificate, only already parsed. Only what the certificate *is* is
cached; whether it is valid, trusted or revoked is decided per verification, as before. A certificate that
does not parse completely is not interned (pyHanko gets its own object and fails exactly as it would have).

5. Faster PDF tokens. pyHanko reads names, numbers and keywords one byte at a time through a generator
(``misc._read_until_class``) and decodes every name byte by byte (``generic._decode_name``): ~0.3 ms for a small
catalog dictionary, ~15% of a verification. The replacements scan with one regular expression over a buffered
chunk and leave the stream exactly where the original does (after the stop byte, or at the end); a name without
``#`` escapes and with only regular printable bytes is decoded at once, anything else goes to pyHanko's decoder
(same result, same errors).

6. Certificate signatures checked once per process. Path validation verifies the signature of every certificate
in the path on every verification (kyso's issuing CA and TSA under its root, the signer under the issuing CA):
a pure function of (signature, to-be-signed bytes, issuer key, algorithm). A *valid* answer is remembered for
exactly those inputs; a failure is recomputed and raised every time. Only certificate signatures go through this
(``check_certificate_signature``): the document's own CMS signature and timestamp token are always checked.
The DSS certificates pyHanko reads (``DocumentSecurityStore.read_dss``) are interned as in (4).

7. "Is this file encrypted?" answered once per reader. pyHanko asks at every object it reads, and for a file
without encryption the answer is a failed ``/Encrypt`` lookup through every trailer revision, raising and
catching ``KeyError`` each time (~3% of a verification). Once the reader is fully opened its trailers no longer
change, so a "no ``/Encrypt``" answer is kept on that reader (only that answer, only after ``__init__``).

8. Within one verification (``verification_scope()``), pyHanko extracts and checks the certificates of the same
CMS object two or three times (signer certificate, then again for validation); the answer for that very object
is kept until the verification ends. Nothing crosses from one document to the next.

``install()`` is idempotent; ``disabled()`` runs a block with pyHanko's and asn1crypto's own code (tests compare
both paths on the same files).
"""
from __future__ import annotations

import binascii
import contextlib
import contextvars
import re
from typing import Any, Iterator

from asn1crypto import x509 as asn1_x509

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.misc import PDF_WHITESPACE, PdfStreamError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import general
from pyhanko.sign.validation import dss, generic_cms
from pyhanko_certvalidator.sig_validate import DEFAULT_VALIDATION_CONTEXT, DefaultSignatureValidator
from pyhanko_certvalidator.validate import _PathValidationState

_original = generic.read_hex_string_from_stream
_HEX = b"0123456789abcdefABCDEF"


def read_hex_string_from_stream(stream):  # noqa: ANN001, ANN201 - pyHanko's signature
    start = stream.tell()
    stream.read(1)  # "<"
    parts = []
    while True:
        chunk = stream.read(65536)
        if not chunk:
            raise PdfStreamError("Stream ended prematurely")
        end = chunk.find(b">")
        if end >= 0:
            parts.append(chunk[:end])
            stream.seek(-(len(chunk) - end - 1), 1)
            break
        parts.append(chunk)
    body = b"".join(parts)
    if b"%" in body:
        stream.seek(start)
        return _original(stream)
    digits = body.translate(None, PDF_WHITESPACE)
    bad = digits.translate(None, _HEX)
    if bad:
        raise PdfStreamError("Unexpected token in hex string: " + repr(bad[:1]))
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


_original_values = asn1_x509.RelativeDistinguishedName._get_values
_VALUES: dict[bytes, dict] = {}
_MAX_CACHED = 20000


def _get_values(self: Any, rdn: Any) -> dict:
    key = rdn.dump()
    cached = _VALUES.get(key)
    if cached is None:
        cached = _original_values(self, rdn)
        if len(_VALUES) >= _MAX_CACHED:
            _VALUES.clear()
        _VALUES[key] = cached
    return dict(cached)


_original_name_eq = asn1_x509.Name.__eq__
_NAME_EQ: dict[tuple[bytes, bytes], bool] = {}


def _name_eq(self: Any, other: Any) -> bool:
    if not isinstance(other, asn1_x509.Name):
        return False
    key = (self.dump(), other.dump())
    cached = _NAME_EQ.get(key)
    if cached is None:
        cached = _original_name_eq(self, other)
        if len(_NAME_EQ) >= _MAX_CACHED:
            _NAME_EQ.clear()
        _NAME_EQ[key] = cached
    return cached


_CERTS: dict[bytes, asn1_x509.Certificate] = {}
_PINNED: dict[bytes, asn1_x509.Certificate] = {}
_MAX_CERTS = 512


def _warm(cert: asn1_x509.Certificate) -> None:
    """Parse everything pyHanko will ask for now, so a shared object is only ever read afterwards."""
    cert.native  # noqa: B018 - the whole structure, recursively
    cert.critical_extensions  # noqa: B018 - fills every extension attribute
    cert.subject.hashable  # noqa: B018
    cert.issuer.hashable  # noqa: B018
    cert.public_key.native  # noqa: B018
    cert.sha256  # noqa: B018
    cert.issuer_serial  # noqa: B018
    cert.self_issued  # noqa: B018
    cert.self_signed  # noqa: B018
    cert.key_identifier  # noqa: B018


def intern_certificate(cert: Any) -> Any:
    """The process-wide parsed object for this certificate's exact DER encoding (or ``cert`` itself when it
    cannot be parsed completely)."""
    if not isinstance(cert, asn1_x509.Certificate):
        return cert
    try:
        der = cert.dump()
    except (ValueError, TypeError, OverflowError):
        return cert
    got = _PINNED.get(der) or _CERTS.get(der)
    if got is not None:
        return got
    try:
        fresh = asn1_x509.Certificate.load(der)
        _warm(fresh)
    except Exception:  # noqa: BLE001 - anything odd: leave it to pyHanko, untouched
        return cert
    if len(_CERTS) >= _MAX_CERTS:
        _CERTS.clear()
    _CERTS[der] = fresh
    return fresh


def pin_certificates(certs: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """Intern trust anchors and kyso's CA certificates for the life of the process; returns the shared objects."""
    out = []
    for c in certs:
        shared = intern_certificate(c)
        _PINNED[shared.dump()] = shared
        out.append(shared)
    return out


def extract_certificate_info(signed_data: Any) -> general.SignedDataCerts:
    """``pyhanko.sign.general.extract_certificate_info`` (0.38, same steps), with interned certificates."""
    certs = []
    attr_certs = []
    for c in signed_data['certificates']:
        cert = c.chosen.untag()
        if c.name == 'certificate':
            certs.append(intern_certificate(cert))
        elif c.name == 'v2_attr_cert':
            attr_certs.append(cert)
    signer_info = general.extract_signer_info(signed_data)
    signer_cert, other_certs = general._partition_certs(certs, signer_info)  # noqa: SLF001
    return general.SignedDataCerts(signer_cert=signer_cert, other_certs=other_certs, attribute_certs=attr_certs)


_original_extract = generic_cms.extract_certificate_info
_original_until = misc._read_until_class
_original_decode_name = generic._decode_name
_CLASS_RE: dict[bytes, Any] = {}
_PLAIN_NAME = re.compile(rb"[!-~]*")
_NOT_REGULAR = re.compile(b"[" + re.escape(misc.PDF_WHITESPACE + misc.PDF_DELIMITERS) + b"#]")


def _read_until_class(class_chars: bytes, stream: Any, maxchars: int | None = None) -> tuple[bytes, bool]:
    if maxchars:
        return _original_until(class_chars, stream, maxchars=maxchars)
    stop = _CLASS_RE.get(class_chars)
    if stop is None:
        stop = _CLASS_RE[class_chars] = re.compile(b"[" + re.escape(class_chars) + b"]")
    parts = []
    size = 64
    while True:
        chunk = stream.read(size)
        if not chunk:
            return b"".join(parts), True
        m = stop.search(chunk)
        if m is not None:
            at = m.start()
            parts.append(chunk[:at])
            stream.seek(at + 1 - len(chunk), 1)  # just after the stop byte, as the byte-wise reader leaves it
            return b"".join(parts), False
        parts.append(chunk)
        size = 4096


def _decode_name(name_bytes: bytes) -> Any:
    if _PLAIN_NAME.fullmatch(name_bytes) and not _NOT_REGULAR.search(name_bytes):
        return generic.NameObject("/" + name_bytes.decode("ascii"))
    return _original_decode_name(name_bytes)


_CERT_SIGS: dict[tuple, bool] = {}


class _RememberValidCertificateSignatures(DefaultSignatureValidator):
    def validate_signature(self, signature: bytes, signed_data: bytes, public_key_info: Any,
                           signature_algorithm: Any, context: Any = DEFAULT_VALIDATION_CONTEXT) -> None:
        key = (signature, signed_data, public_key_info.dump(), signature_algorithm.dump(), context)
        if key in _CERT_SIGS:
            return
        super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
        if len(_CERT_SIGS) >= _MAX_CACHED:
            _CERT_SIGS.clear()
        _CERT_SIGS[key] = True


_REMEMBER = _RememberValidCertificateSignatures()
_original_check_cert_sig = _PathValidationState.check_certificate_signature


def check_certificate_signature(self: Any, cert: Any, algorithm_policy: Any, proc_state: Any, moment: Any,
                                sig_validator: Any) -> None:
    if type(sig_validator) is DefaultSignatureValidator:  # a custom validator keeps its own behaviour
        sig_validator = _REMEMBER
    return _original_check_cert_sig(self, cert, algorithm_policy, proc_state, moment, sig_validator)


class _InterningCertificateLoader(asn1_x509.Certificate):
    """``Certificate`` as seen by pyHanko's DSS reader: ``load`` hands out interned certificates."""

    @classmethod
    def load(cls, encoded_data: bytes, strict: bool = False, **kwargs: Any) -> Any:
        return intern_certificate(asn1_x509.Certificate.load(encoded_data, strict=strict, **kwargs))


_original_reader_init = PdfFileReader.__init__
_original_encrypt_dict = PdfFileReader.encrypt_dict


def _reader_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_reader_init(self, *args, **kwargs)
    self._kyso_opened = True


def _encrypt_dict(self: Any) -> Any:
    if self.__dict__.get("_kyso_no_encrypt"):
        return None
    value = _original_encrypt_dict.fget(self)
    if value is None and self.__dict__.get("_kyso_opened"):
        self._kyso_no_encrypt = True
    return value


_SCOPE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("kyso_verification_scope", default=None)
_original_certs_for_validation = generic_cms.extract_certs_for_validation


@contextlib.contextmanager
def verification_scope() -> Iterator[None]:
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def extract_certs_for_validation(signed_data: Any) -> Any:
    scope = _SCOPE.get()
    if scope is None:
        return _original_certs_for_validation(signed_data)
    hit = scope.get(id(signed_data))
    if hit is not None and hit[0] is signed_data:
        return hit[1]
    result = _original_certs_for_validation(signed_data)  # an error is raised again at every call, as before
    scope[id(signed_data)] = (signed_data, result)
    return result


def uninstall() -> None:
    generic.read_hex_string_from_stream = _original
    asn1_x509.RelativeDistinguishedName._get_values = _original_values
    asn1_x509.Name.__eq__ = _original_name_eq
    generic_cms.extract_certificate_info = _original_extract
    misc._read_until_class = _original_until
    generic._decode_name = _original_decode_name
    _PathValidationState.check_certificate_signature = _original_check_cert_sig
    dss.Certificate = asn1_x509.Certificate
    PdfFileReader.__init__ = _original_reader_init
    PdfFileReader.encrypt_dict = _original_encrypt_dict
    generic_cms.extract_certs_for_validation = _original_certs_for_validation


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """The original code paths for the duration of the block (not thread-safe: tests only)."""
    uninstall()
    try:
        yield
    finally:
        install()


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    asn1_x509.RelativeDistinguishedName._get_values = _get_values
    asn1_x509.Name.__eq__ = _name_eq
    generic_cms.extract_certificate_info = extract_certificate_info
    misc._read_until_class = _read_until_class
    generic._decode_name = _decode_name
    _PathValidationState.check_certificate_signature = check_certificate_signature
    dss.Certificate = _InterningCertificateLoader
    PdfFileReader.__init__ = _reader_init
    PdfFileReader.encrypt_dict = property(_encrypt_dict)
    generic_cms.extract_certs_for_validation = extract_certs_for_validation
