"""Verification of signed PDFs: any PDF in, a report out (the JSON of API.md, ``POST /api/v1/verify``).

pyHanko does the PDF and CMS work (integrity, byte-range coverage, difference analysis, path building,
timestamp tokens); kyso adds what pyHanko cannot know: the revocation status of its *own* certificates from its
records (:mod:`signer.registry`), the proof-of-existence rules of ETSI EN 319 102-1 applied to them
(:mod:`signer.indication`), the PAdES level reached, the Decree 30 Article 5 check (:mod:`signer.decree30`) and
the people-facing messages. This module runs anywhere; the web runs it in a killable worker process
(:mod:`signer.sandbox`) so any input is answered within ``Settings.verify_timeout_s``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import errors as val_errors
from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.status import SignatureCoverageLevel

from ca.errors import InvalidInput, KysoError
from ca.timeutil import iso_vn, utcnow
from signer import decree30, embedded, fastpdf, indication, registry
from signer.messages import empty, say
from signer.trust import TrustSet

log = logging.getLogger("kyso.verify")
fastpdf.install()


class NotAPdf(InvalidInput):
    code = "not_a_pdf"
    vi = "Tệp tải lên không phải là tệp PDF."
    en = "The uploaded file is not a PDF."


class BrokenPdf(KysoError):
    code = "broken_pdf"
    kind = "unprocessable"
    vi = "Tệp PDF bị hỏng, không đọc được."
    en = "The PDF is damaged and cannot be read."


class EncryptedPdf(KysoError):
    code = "encrypted_pdf"
    kind = "unprocessable"
    vi = "Tệp PDF đã được mã hóa hoặc đặt mật khẩu; hãy gửi bản không mã hóa."
    en = "The PDF is encrypted or password-protected; send an unencrypted copy."


_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_document",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
}
_MODS = {
    ModificationLevel.NONE: "none",
    ModificationLevel.LTA_UPDATES: "none",
    ModificationLevel.FORM_FILLING: "form_filling",
    ModificationLevel.ANNOTATIONS: "annotations",
    ModificationLevel.OTHER: "other",
}
_READ_ERRORS = (PdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
                EOFError, OverflowError, UnicodeError, NotImplementedError, AssertionError, LookupError)


@dataclass
class Verification:
    report: dict[str, Any]
    xml: str | None = None


def open_reader(data: bytes) -> PdfFileReader:
    if b"%PDF-" not in data[:1024]:
        raise NotAPdf()
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
    except _READ_ERRORS as exc:
        raise BrokenPdf(f"The PDF is damaged and cannot be read ({type(exc).__name__})",
                        "Tệp PDF bị hỏng, không đọc được") from None
    if reader.encrypted:
        try:
            result = reader.decrypt("")  # an owner password alone still lets anyone read the file
            ok = result is not None and getattr(result, "status", None) is not None and result.status.name != "FAILED"
        except _READ_ERRORS:
            ok = False
        if not ok:
            raise EncryptedPdf()
    return reader


def name_json(name: asn1_x509.Name) -> dict[str, Any]:
    n = name.native
    def one(key: str) -> str | None:
        v = n.get(key)
        if isinstance(v, list):
            return ", ".join(str(x) for x in v)
        return v
    uid = n.get("user_id") or n.get("0.9.2342.19200300.100.1.1") or []
    return {"cn": one("common_name"), "o": one("organization_name"), "ou": one("organizational_unit_name"),
            "title": one("title"), "uid": uid if isinstance(uid, list) else [uid], "l": one("locality_name"),
            "st": one("state_or_province_name"), "c": one("country_name")}


def _iso(value: dt.datetime | None) -> str | None:
    return iso_vn(value) if value is not None else None


class Verifier:
    """One per process: trust set and authority (for kyso's records). ``verify()`` is re-entrant.

    ``fast=False`` runs without this module's own shortcuts (shared trust manager, interned DSS certificates,
    a kept event loop); with :func:`signer.fastpdf.disabled` as well it is pyHanko's plain path, which the tests
    compare with the fast one on the same files."""

    def __init__(self, authority: Any, trust: TrustSet, *, fetch: bool = False, fast: bool = True):
        self.authority = authority
        self.trust = trust
        self.fetch = fetch
        self.fast = fast

    @classmethod
    def for_authority(cls, authority: Any, settings: Any) -> "Verifier":
        return cls(authority, TrustSet.from_authority(authority, settings.extra_roots),
                   fetch=bool(settings.fetch_revocation))

    # -- entry point ----------------------------------------------------------------------------------
    def verify(self, data: bytes, *, moment: dt.datetime | None = None, xml: bool = False) -> Verification:
        reader = open_reader(data)
        moment = moment or utcnow()
        try:
            sigs = list(reader.embedded_signatures)
        except _READ_ERRORS + (val_errors.SignatureValidationError, SigningError) as exc:
            raise BrokenPdf(f"The signature fields cannot be read ({type(exc).__name__})",
                            "Không đọc được các trường chữ ký trong tệp PDF") from None
        try:
            dss, has_dss = embedded.read_dss(reader)
        except _READ_ERRORS:
            dss, has_dss = embedded.EmbeddedData(), False
        if not self.fast:
            return asyncio.run(self._verify_all(data, reader, sigs, dss, has_dss, moment, xml))
        dss.certs = [fastpdf.intern_certificate(c) for c in dss.certs]
        with fastpdf.verification_scope():
            return _run(self._verify_all(data, reader, sigs, dss, has_dss, moment, xml))

    async def _verify_all(self, data: bytes, reader: PdfFileReader, sigs: list, dss: embedded.EmbeddedData,
                          has_dss: bool, moment: dt.datetime, xml: bool) -> Verification:
        doc_ts = [await self._doc_timestamp(e, dss, moment) for e in sigs if e.sig_object_type == "/DocTimeStamp"]
        results = []
        for e in sigs:
            if e.sig_object_type == "/DocTimeStamp":
                continue
            results.append(await self._signature(e, dss, has_dss, doc_ts, moment))
        signatures = [r.entry for r in results]
        report = {
            "document": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "signature_count": len(signatures),
                "timestamp_count": len(doc_ts),
                "validation_time": iso_vn(moment),
            },
            "signatures": signatures,
            "document_timestamps": [t["entry"] for t in doc_ts],
        }
        report["document"]["decree30"] = decree30.check(signatures)
        report["document"].update(indication.document_verdict(signatures, report["document_timestamps"]))
        out = Verification(report)
        if xml:
            from signer.report_xml import etsi_report

            out.xml = etsi_report(results, moment)
        return out

    # -- document timestamps --------------------------------------------------------------------------
    async def _doc_timestamp(self, emb: Any, dss: embedded.EmbeddedData, moment: dt.datetime) -> dict[str, Any]:
        messages = empty()
        entry: dict[str, Any] = {"field": _field(emb), "type": "document_timestamp", "time": None, "tsa": None,
                                 "intact": False, "trusted": False, "coverage": "partial", "modifications": "other"}
        ok = False
        ts_time = None
        try:
            vc = self.trust.context(moment, other_certs=dss.certs, shared=self.fast)
            st = await async_validate_pdf_timestamp(emb, vc)
            ts_time = st.timestamp
            tsa = name_json(st.signing_cert.subject)["cn"] if st.signing_cert is not None else None
            entry.update(time=_iso(ts_time), tsa=tsa, intact=bool(st.intact and st.valid), trusted=bool(st.trusted),
                         coverage=_COVERAGE.get(st.coverage, "partial"), modifications=_modification(st.diff_result))
            tsa_ok = self._kyso_tsa_ok(st.signing_cert, ts_time)
            ok = bool(st.intact and st.valid and st.trusted and tsa_ok)
            if not (st.intact and st.valid):
                ind, sub = "TOTAL_FAILED", "HASH_FAILURE"
                say(messages, "HASH_FAILURE")
            elif not st.trusted or not tsa_ok:
                ind, sub = "INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND"
                say(messages, "NO_CERTIFICATE_CHAIN_FOUND")
            else:
                ind, sub = "TOTAL_PASSED", None
                say(messages, "doc_ts_ok", time=_iso(ts_time), tsa=tsa)
        except (val_errors.SignatureValidationError, SigningError) + _READ_ERRORS as exc:
            ind, sub = "TOTAL_FAILED", "FORMAT_FAILURE"
            say(messages, "FORMAT_FAILURE", detail=_short(exc))
        entry.update(indication=ind, sub_indication=sub, messages=messages)
        return {"entry": entry, "ok": ok, "time": ts_time if ok else None, "revision": emb.signed_revision}

    def _kyso_tsa_ok(self, tsa_cert: Any, at: dt.datetime | None) -> bool:
        """A timestamp from kyso's own TSA counts only if kyso has not revoked the TSA certificate since."""
        if tsa_cert is None or self.trust.kyso_role(tsa_cert) != "tsa" or at is None:
            return True
        st = registry.status(self.authority, tsa_cert.serial_number, "issuing")
        return st.status != "revoked" or (st.revoked_at is not None and at < st.revoked_at)

    # -- signatures -----------------------------------------------------------------------------------
    async def _signature(self, emb: Any, dss: embedded.EmbeddedData, has_dss: bool, doc_ts: list[dict],
                         moment: dt.datetime) -> "indication.Facts":
        facts = indication.Facts(field=_field(emb), moment=moment, embedded=emb)
        try:
            facts.subfilter = str(emb.sig_object.get("/SubFilter", ""))
            cert = emb.signer_cert
            facts.signer_cert = cert
            cms_rev = embedded.read_cms_revinfo(emb.signer_info)
            crls, ocsps = self.trust.foreign_revinfo([*dss.crls, *cms_rev.crls], [*dss.ocsps, *cms_rev.ocsps])
            others = [*dss.certs, *emb.other_embedded_certs]
            vc = self.trust.context(moment, crls=crls, ocsps=ocsps, other_certs=others, shared=self.fast)
            status = await async_validate_pdf_signature(emb, vc)
            facts.status = status
            facts.revinfo_lists = (list(vc.crls), list(vc.ocsps))
            facts.embedded_revinfo = dss.has_revinfo or cms_rev.has_revinfo
            facts.has_dss = has_dss
            facts.embedded_crls = [*dss.crls, *cms_rev.crls]
            facts.embedded_ocsps = [*dss.ocsps, *cms_rev.ocsps]
            facts.poe = _best_poe(status, emb, doc_ts, self)
            facts.doc_ts_after = [t for t in doc_ts if t["ok"] and t["revision"] > emb.signed_revision]
            path = status.validation_path
            anchor = path.trust_anchor.authority.certificate if path is not None and status.trust_problem_indic is None \
                else None
            if status.trust_problem_indic is not None and facts.poe is not None and \
                    getattr(status.trust_problem_indic, "name", "") in indication.RETRY_AT_POE:
                # valid certificate at the time the signature is proven to exist? (ETSI EN 319 102-1 §5.5)
                vc_past = self.trust.context(facts.poe, crls=crls, ocsps=ocsps, other_certs=others,
                                             shared=self.fast)
                past = await async_validate_pdf_signature(emb, vc_past, skip_diff=True)
                facts.past_status = past
                if past.trust_problem_indic is None and past.validation_path is not None:
                    anchor = past.validation_path.trust_anchor.authority.certificate
                    path = past.validation_path
            facts.anchor = anchor
            facts.path = path
            if anchor is not None and self.trust.is_kyso_root(anchor):
                facts.kyso = True
                facts.registry = registry.status(self.authority, cert.serial_number, "issuing")
                facts.profile = registry.profile(self.authority, cert.serial_number)
                issuer = _issuer_in_path(path, cert)
                if issuer is not None and self.trust.kyso_role(issuer) == "issuing":
                    facts.ca_registry = registry.status(self.authority, issuer.serial_number, "root")
            elif self.fetch and anchor is not None:
                vc_fetch = self.trust.context(moment, crls=crls, ocsps=ocsps, other_certs=others, fetch=True,
                                              shared=self.fast)
                fetched = await async_validate_pdf_signature(emb, vc_fetch, skip_diff=True)
                facts.revinfo_lists = (list(vc_fetch.crls), list(vc_fetch.ocsps))
                if fetched.revocation_details is not None:
                    facts.status = status = fetched
        except (val_errors.SignatureValidationError, SigningError) + _READ_ERRORS as exc:
            log.info("signature %s: %s", facts.field, exc)
            facts.format_error = _short(exc)
        indication.decide(facts)
        facts.entry = self._entry(facts)
        return facts

    def _entry(self, f: "indication.Facts") -> dict[str, Any]:
        st = f.status
        cert = f.signer_cert
        ts = None
        if st is not None and st.timestamp_validity is not None:
            tv = st.timestamp_validity
            ts = {"time": _iso(tv.timestamp),
                  "tsa": name_json(tv.signing_cert.subject)["cn"] if tv.signing_cert is not None else None,
                  "valid": bool(f.ts_ok)}
        signer = name_json(cert.subject) if cert is not None else None
        if signer is not None:
            signer.update(serial=format(cert.serial_number, "x"), not_before=_iso(cert.not_valid_before),
                          not_after=_iso(cert.not_valid_after), profile=f.profile)
        return {
            "field": f.field,
            "type": "signature",
            "signer": signer,
            "issuer": name_json(cert.issuer) if cert is not None else None,
            "signing_time": _iso(st.signer_reported_dt) if st is not None else None,
            "timestamp": ts,
            "intact": bool(st is not None and st.intact and st.valid),
            "trusted": bool(f.trusted),
            "revocation": f.revocation,
            "coverage": _COVERAGE.get(st.coverage, "partial") if st is not None else "partial",
            "modifications": _modification(st.diff_result) if st is not None else "other",
            "certified": bool(f.embedded is not None and _safe(lambda: f.embedded.docmdp_level is not None)),
            "level": f.level,
            "proof_of_existence": _iso(f.poe),
            "indication": f.indication,
            "sub_indication": f.sub_indication,
            "messages": f.messages,
        }


_loops = threading.local()


def _run(coro: Any) -> Any:
    """``asyncio.run`` without building and tearing down an event loop per document: one loop per thread, kept.
    Nothing of a verification outlives it on the loop (pyHanko's validation here does no I/O: fetching is off
    unless configured, and then it runs to completion inside the coroutine)."""
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except _READ_ERRORS:
        return None


def _field(emb: Any) -> str:
    try:
        return str(emb.field_name)
    except _READ_ERRORS:
        return "?"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def _modification(diff: Any) -> str:
    if diff is None:
        return "none"
    if isinstance(diff, SuspiciousModification):
        return "other"
    return _MODS.get(getattr(diff, "modification_level", None), "other")


def _issuer_in_path(path: Any, leaf: asn1_x509.Certificate) -> asn1_x509.Certificate | None:
    if path is None:
        return None
    certs = list(path.iter_certs(include_root=True))
    for i, c in enumerate(certs):
        if c.dump() == leaf.dump() and i > 0:
            return certs[i - 1]
    return None


def _best_poe(status: Any, emb: Any, doc_ts: list[dict], verifier: Verifier) -> dt.datetime | None:
    """The earliest proven time the signature existed: its own valid timestamp, or a valid document timestamp
    over a later revision. ``None``: only the validation time proves it."""
    times = []
    tv = status.timestamp_validity
    if tv is not None and tv.intact and tv.valid and tv.trusted and verifier._kyso_tsa_ok(tv.signing_cert,
                                                                                          tv.timestamp):
        times.append(tv.timestamp)
    times += [t["time"] for t in doc_ts if t["ok"] and t["revision"] > emb.signed_revision]
    return min(times) if times else None
