"""PAdES baseline levels on top of pyHanko.

* B-B: CMS (ETSI.CAdES.detached) with the signing-certificate-v2 attribute, signer chain embedded.
* B-T: B-B plus a signature timestamp from kyso's TSA (in-process, :mod:`signer.timestamping`).
* B-LT: B-T plus a DSS update (incremental) holding the certificates, CRLs and OCSP responses of the signer's
  and the TSA's chains (:mod:`signer.ltv`).
* B-LTA: B-LT plus a document timestamp (RFC 3161, ETSI.RFC3161) over everything.

One-step signing (:func:`sign`) and two-step signing (:mod:`signer.twostep`) share :func:`extend`, which turns a
B-T signature into B-LT / B-LTA. The room for the CMS is computed up front (:func:`reserve`), so pyHanko does not
make a dummy signature first.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.stamp.base import BaseStampStyle

from signer import errors, ltv
from signer.hsm_signer import signature_size
from signer.pdfinput import PdfDocument
from signer.timestamping import timestamper as kyso_timestamper

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
DEFAULT_LEVEL = "B-LT"
MD = "sha256"


def check_level(level: str | None) -> str:
    level = (level or DEFAULT_LEVEL).strip().upper()
    if level not in LEVELS:
        raise errors.InvalidOption(f"Unknown level {level!r} (use one of {', '.join(LEVELS)})",
                                   f"Mức chữ ký không hợp lệ {level!r} (dùng: {', '.join(LEVELS)})",
                                   code="invalid_level")
    return level


def needs_timestamp(level: str) -> bool:
    return level != "B-B"


@dataclass
class FieldSpec:
    """Where the signature goes: a new field ``name``; visible when ``box`` (page coordinates) is given."""

    name: str
    page: int = 1  # 1-based
    box: tuple[float, float, float, float] | None = None
    style: BaseStampStyle | None = None
    certify: bool = False
    lock: bool = False
    reason: str | None = None
    location: str | None = None


class _TimedPdfSigner(PdfSigner):
    """A PdfSigner whose signing time (/M, appearance) is kyso's clock, not the machine's local time."""

    def __init__(self, *args: Any, signing_time: dt.datetime, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


def reserve(signer_cert_der_sizes: int, public_key: Any, level: str, authority: Any) -> int:
    """Bytes (hex digits) to reserve for the CMS: certificates + signature + attributes + timestamp token."""
    size = signer_cert_der_sizes + signature_size(public_key) + 3072
    if needs_timestamp(level):
        dummy = asyncio.run(kyso_timestamper(authority).async_dummy_response(MD))
        size += len(dummy.dump()) + 512
    return 2 * size


def pdf_signer(spec: FieldSpec, signer: Signer, level: str, authority: Any, signing_time: dt.datetime,
               has_signatures: bool) -> PdfSigner:
    if spec.certify and has_signatures:
        raise errors.InvalidOption("A certification signature must be the document's first signature",
                                   "Chữ ký chứng nhận (certify) phải là chữ ký đầu tiên của tài liệu",
                                   code="certify_not_first")
    field_kwargs: dict[str, Any] = {"sig_field_name": spec.name}
    if spec.box is not None:
        field_kwargs.update(on_page=spec.page - 1, box=spec.box)
    if spec.lock:
        field_kwargs.update(field_mdp_spec=fields.FieldMDPSpec(fields.FieldMDPAction.ALL),
                            doc_mdp_update_value=fields.MDPPerm.NO_CHANGES)
    meta = PdfSignatureMetadata(
        field_name=spec.name, md_algorithm=MD, subfilter=fields.SigSeedSubFilter.PADES,
        reason=spec.reason or None, location=spec.location or None, certify=spec.certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        signer_key_usage={"non_repudiation"})
    return _TimedPdfSigner(meta, signer, timestamper=kyso_timestamper(authority) if needs_timestamp(level) else None,
                           stamp_style=spec.style, new_field_spec=fields.SigFieldSpec(**field_kwargs),
                           signing_time=signing_time)


_LOOPS = threading.local()


def run(coro: Any) -> Any:
    """Run ``coro`` on this thread's own event loop (kept for the thread's life: ``asyncio.run`` builds and
    tears down a loop, a selector and a socket pair on every call)."""
    loop = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)


async def _sign_async(ps: PdfSigner, writer: IncrementalPdfFileWriter, reserved: int) -> tuple[bytes, bytes]:
    """pyHanko's ``PdfSigner.async_sign_pdf`` (reserved size given, no pre-sign validation data, no post-sign
    instructions), step by step, so the signature's /Contents bytes come back with the PDF: B-LT needs them for
    the DSS's VRI key and reading them back from the output costs more than the signature itself."""
    session = ps.init_signing_session(writer)
    validation_info = await session.perform_presign_validation(writer)
    tbs = session.prepare_tbs_document(validation_info=validation_info, bytes_reserved=reserved)
    digest, output = tbs.digest_tbs_document()
    post = await tbs.perform_signature(
        document_digest=digest.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(
            signing_time=session.system_time,
            adobe_revinfo_attr=None if validation_info is None else validation_info.adobe_revinfo_attr,
            cades_signed_attrs=ps.signature_meta.cades_signed_attr_spec))
    await post.post_signature_processing(output)
    return output.getvalue(), post.sig_contents


def sign(doc: PdfDocument, spec: FieldSpec, signer: Signer, signer_cert: x509.Certificate, level: str,
         authority: Any, signing_time: dt.datetime, reserved: int) -> bytes:
    """Sign ``doc`` at ``level`` with ``signer`` (one step). Returns the signed PDF."""
    try:
        ps = pdf_signer(spec, signer, level, authority, signing_time, bool(doc.reader.embedded_signatures))
        pdf, contents = run(_sign_async(ps, doc.writer(), reserved))
    except errors.KysoError:
        raise
    except (SigningError, misc.PdfError, ValueError, KeyError, TypeError) as exc:
        raise errors.SigningFailed(f"The document could not be signed: {exc}",
                                   "Không ký được tài liệu này (cấu trúc PDF không được hỗ trợ)") from None
    return extend(pdf, spec.name, level, authority, signer_cert, sig_contents=contents)


def extend(pdf: bytes, field_name: str, level: str, authority: Any, signer_cert: x509.Certificate, *,
           sig_contents: bytes | None = None) -> bytes:
    """Add B-LT validation data (and the B-LTA document timestamp) after the signature in field ``field_name``
    (whose /Contents bytes, padding included, are ``sig_contents`` when the caller has them)."""
    if level not in ("B-LT", "B-LTA"):
        return pdf
    contents = sig_contents
    if contents is None:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        for emb in reader.embedded_signatures:
            if emb.field_name == field_name:
                contents = emb.sig_object.raw_get("/Contents").original_bytes
    pdf = ltv.add_dss(pdf, contents, ltv.material(authority, signer_cert))
    if level == "B-LTA":
        stamper = kyso_timestamper(authority)
        w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        dummy = asyncio.run(stamper.async_dummy_response(MD))
        out = PdfTimeStamper(stamper, field_name=f"{field_name}-lta").timestamp_pdf(
            w, MD, bytes_reserved=2 * (len(dummy.dump()) + 1024))
        pdf = out.getvalue()
    return pdf
