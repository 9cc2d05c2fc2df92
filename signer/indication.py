"""From facts to a verdict: the ETSI EN 319 102-1 indication and sub-indication of one signature, its PAdES
level, its revocation summary, and the document's overall verdict.

Order of the checks (the first failing one decides; every check still adds its line to the messages):
format → integrity (HASH_FAILURE) → signature value (SIG_CRYPTO_FAILURE) → byte-range coverage →
changes after signing (SIG_CONSTRAINTS_FAILURE) → certificate path (NO_CERTIFICATE_CHAIN_FOUND,
OUT_OF_BOUNDS_NO_POE, …) → revocation (REVOKED_NO_POE, REVOKED_CA_NO_POE, TRY_LATER).

Proof of existence (POE): a valid signature timestamp, or a valid document timestamp over a later revision.
A certificate revoked or expired *after* the POE does not invalidate the signature (§5.5, §5.6.2); without a
POE before that moment the result is INDETERMINATE with REVOKED_NO_POE / OUT_OF_BOUNDS_NO_POE.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification
from pyhanko.sign.validation.status import SignatureCoverageLevel

from ca.timeutil import iso_vn
from signer.embedded import status_in
from signer.messages import TEXT, empty, say
from signer.registry import RegistryStatus

RETRY_AT_POE = {"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED", "REVOKED_NO_POE",
                "REVOKED_CA_NO_POE"}
_EXPIRY = {"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED"}
_REVOKED = {"REVOKED_NO_POE", "REVOKED_CA_NO_POE", "REVOKED"}
_REASONS_VI = {"unspecified": "không nêu", "keyCompromise": "lộ khóa", "key_compromise": "lộ khóa",
               "affiliationChanged": "thay đổi đơn vị", "affiliation_changed": "thay đổi đơn vị",
               "superseded": "đã thay thế", "cessationOfOperation": "ngừng hoạt động",
               "cessation_of_operation": "ngừng hoạt động", "certificateHold": "tạm dừng",
               "certificate_hold": "tạm dừng", "privilegeWithdrawn": "rút quyền",
               "privilege_withdrawn": "rút quyền"}
_SOURCE = {"registry": ("sổ thu hồi của kyso", "kyso's revocation register"), "crl": ("CRL", "CRL"),
           "ocsp": ("OCSP", "OCSP"), "none": ("không có", "none")}


@dataclass
class Facts:
    field: str
    moment: dt.datetime
    embedded: Any = None
    subfilter: str = ""
    signer_cert: Any = None
    status: Any = None          # pyHanko PdfSignatureStatus at the validation time
    past_status: Any = None     # the same at the POE, when the certificate had expired/been revoked since
    path: Any = None
    anchor: Any = None
    kyso: bool = False
    registry: RegistryStatus | None = None
    ca_registry: RegistryStatus | None = None
    profile: str | None = None
    revinfo_lists: tuple[list, list] = ((), ())
    embedded_crls: list = field(default_factory=list)     # everything embedded (kyso's too), for `embedded`
    embedded_ocsps: list = field(default_factory=list)
    embedded_revinfo: bool = False
    has_dss: bool = False
    poe: dt.datetime | None = None
    doc_ts_after: list = field(default_factory=list)
    format_error: str | None = None
    # outputs
    ts_ok: bool = False
    trusted: bool = False
    revocation: dict = field(default_factory=lambda: {"status": "unknown", "source": "none", "embedded": False})
    level: str = "none"
    indication: str = "INDETERMINATE"
    sub_indication: str | None = None
    messages: dict = field(default_factory=empty)
    entry: dict | None = None


def _fmt(value: dt.datetime | None) -> str:
    return iso_vn(value) if value is not None else "?"


def _reason(reason: Any) -> tuple[str, str]:
    text = str(getattr(reason, "native", reason) or "unspecified")
    return _REASONS_VI.get(text, text), text


def decide(f: Facts) -> None:
    verdict: list[tuple[str, str | None]] = []

    def fail(ind: str, sub: str | None) -> None:
        if not verdict:
            verdict.append((ind, sub))

    st = f.status
    if f.format_error is not None or st is None:
        say(f.messages, "FORMAT_FAILURE", detail=f.format_error or "?")
        _finish(f, [("TOTAL_FAILED", "FORMAT_FAILURE")])
        return
    # integrity and signature value
    if not st.intact:
        say(f.messages, "HASH_FAILURE")
        fail("TOTAL_FAILED", "HASH_FAILURE")
    elif not st.valid:
        say(f.messages, "SIG_CRYPTO_FAILURE")
        fail("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")
    else:
        say(f.messages, "intact")
    if st.coverage is None or st.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        say(f.messages, "partial_coverage")
        fail("TOTAL_FAILED", "FORMAT_FAILURE")
    # timestamp
    tv = st.timestamp_validity
    f.ts_ok = bool(tv is not None and f.poe is not None and tv.intact and tv.valid and tv.trusted
                   and tv.timestamp == min([f.poe, tv.timestamp]))
    if tv is None:
        say(f.messages, "no_timestamp", time=_fmt(st.signer_reported_dt))
    elif f.ts_ok:
        from signer.verify import name_json

        tsa = name_json(tv.signing_cert.subject)["cn"] if tv.signing_cert is not None else "?"
        say(f.messages, "timestamp_ok", time=_fmt(tv.timestamp), tsa=tsa)
    else:
        say(f.messages, "timestamp_bad")
    # changes after signing
    diff = st.diff_result
    level = getattr(diff, "modification_level", None)
    if isinstance(diff, SuspiciousModification) or level == ModificationLevel.OTHER or st.docmdp_ok is False:
        say(f.messages, "SIG_CONSTRAINTS_FAILURE", docmdp=TEXT["docmdp"] if st.docmdp_ok is False else "")
        fail("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    elif level == ModificationLevel.FORM_FILLING:
        say(f.messages, "mod_form_filling")
    elif level == ModificationLevel.ANNOTATIONS:
        say(f.messages, "mod_annotations")
    elif level == ModificationLevel.LTA_UPDATES:
        say(f.messages, "mod_lta")
    else:
        say(f.messages, "mod_none")
    # certificate path (at the validation time, or at the POE when the certificate expired since)
    cert = f.signer_cert
    problem = st.trust_problem_indic
    if problem is not None and f.past_status is not None and f.past_status.trust_problem_indic is None:
        name = problem.name
        if name in _EXPIRY:
            say(f.messages, "expired_with_poe", not_after=_fmt(cert.not_valid_after), poe=_fmt(f.poe))
        problem = None
    if problem is None and f.anchor is not None:
        f.trusted = True
        from signer.verify import name_json

        say(f.messages, "trusted", anchor=name_json(f.anchor.subject)["cn"] or "?")
    elif problem is not None:
        name = problem.name
        if name in _EXPIRY:
            say(f.messages, "OUT_OF_BOUNDS_NO_POE", not_after=_fmt(cert.not_valid_after))
            fail("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
        elif name in _REVOKED:
            details = st.revocation_details
            when = details.revocation_date if details is not None else None
            say(f.messages, "REVOKED_CA_NO_POE" if name == "REVOKED_CA_NO_POE" else "REVOKED_NO_POE",
                revoked_at=_fmt(when), reason=_reason(details.revocation_reason if details else None))
            fail("INDETERMINATE", "REVOKED_CA_NO_POE" if name == "REVOKED_CA_NO_POE" else "REVOKED_NO_POE")
        elif name in ("NO_CERTIFICATE_CHAIN_FOUND", "NO_SIGNING_CERTIFICATE_FOUND", "NOT_YET_VALID",
                      "CRYPTO_CONSTRAINTS_FAILURE"):
            say(f.messages, name)
            fail("INDETERMINATE", name)
        elif name == "CHAIN_CONSTRAINTS_FAILURE":
            say(f.messages, name, detail=name)
            fail("INDETERMINATE", name)
        else:
            say(f.messages, "CERTIFICATE_CHAIN_GENERAL_FAILURE", detail=name)
            fail("INDETERMINATE", name if name.isupper() else "CERTIFICATE_CHAIN_GENERAL_FAILURE")
    else:
        say(f.messages, "NO_CERTIFICATE_CHAIN_FOUND")
        fail("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    # revocation
    _revocation(f, fail)
    f.level = _level(f)
    _finish(f, verdict)


def _revocation(f: Facts, fail: Any) -> None:
    cert = f.signer_cert
    crls, ocsps = f.revinfo_lists
    covered = _covers(cert, f)
    if f.kyso:
        reg = f.registry or RegistryStatus("unknown")
        f.revocation = {"status": reg.status, "source": "registry", "embedded": covered}
        if reg.status == "revoked":
            if f.poe is not None and reg.revoked_at is not None and f.poe < reg.revoked_at:
                say(f.messages, "revoked_after_poe", revoked_at=_fmt(reg.revoked_at), poe=_fmt(f.poe))
            else:
                say(f.messages, "REVOKED_NO_POE", revoked_at=_fmt(reg.revoked_at), reason=_reason(reg.reason))
                fail("INDETERMINATE", "REVOKED_NO_POE")
        elif reg.status == "good":
            say(f.messages, "revocation_good", source=_SOURCE["registry"])
        else:
            say(f.messages, "TRY_LATER")
            fail("INDETERMINATE", "TRY_LATER")
        ca = f.ca_registry
        if ca is not None and ca.status == "revoked" and not (f.poe is not None and ca.revoked_at is not None
                                                              and f.poe < ca.revoked_at):
            say(f.messages, "REVOKED_CA_NO_POE", revoked_at=_fmt(ca.revoked_at))
            fail("INDETERMINATE", "REVOKED_CA_NO_POE")
        return
    if not f.trusted:
        f.revocation = {"status": "unknown", "source": "none", "embedded": covered}
        return
    found = status_in(cert, list(crls), list(ocsps))
    details = f.status.revocation_details
    if details is not None:
        f.revocation = {"status": "revoked", "source": found[1] if found else "crl", "embedded": covered}
        if f.poe is not None and f.poe < details.revocation_date:
            say(f.messages, "revoked_after_poe", revoked_at=_fmt(details.revocation_date), poe=_fmt(f.poe))
    elif found is not None and found[0] in ("good", "revoked"):
        f.revocation = {"status": found[0], "source": found[1], "embedded": covered}
        if found[0] == "good":
            say(f.messages, "revocation_good", source=_SOURCE[found[1]])
    else:
        f.revocation = {"status": "unknown", "source": "none", "embedded": covered}
        say(f.messages, "TRY_LATER")
        fail("INDETERMINATE", "TRY_LATER")


def _covers(cert: Any, f: Facts) -> bool:
    """Does the PDF itself carry revocation data for this certificate? Issuer/serial match only: the entries
    of a (possibly huge) kyso CRL are never walked."""
    if cert is None:
        return False
    issuer = cert.issuer.dump()
    for c in f.embedded_crls:
        try:
            if c["tbs_cert_list"]["issuer"].dump() == issuer:
                return True
        except (ValueError, KeyError, TypeError):
            continue
    for resp in f.embedded_ocsps:
        try:
            basic = resp["response_bytes"]["response"].parsed
            if any(single["cert_id"]["serial_number"].native == cert.serial_number
                   for single in basic["tbs_response_data"]["responses"]):
                return True
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return False


def _level(f: Facts) -> str:
    if "ETSI.CAdES.detached" not in f.subfilter:
        return "none"
    if not (f.ts_ok or f.doc_ts_after):
        return "B-B"
    if not f.embedded_revinfo:
        return "B-T"
    if f.doc_ts_after and f.has_dss:
        return "B-LTA"
    return "B-LT"


def _finish(f: Facts, verdict: list[tuple[str, str | None]]) -> None:
    if verdict:
        f.indication, f.sub_indication = verdict[0]
    else:
        f.indication, f.sub_indication = "TOTAL_PASSED", None
    head = {"TOTAL_PASSED": "passed", "TOTAL_FAILED": "failed", "INDETERMINATE": "indeterminate"}[f.indication]
    first = empty()
    say(first, head)
    f.messages = {"vi": first["vi"] + f.messages["vi"], "en": first["en"] + f.messages["en"]}


def document_verdict(signatures: list[dict], timestamps: list[dict]) -> dict[str, Any]:
    """``verdict``: valid (every signature and document timestamp TOTAL_PASSED), invalid (one TOTAL_FAILED),
    indeterminate, or unsigned."""
    entries = [*signatures, *timestamps]
    if not signatures:
        verdict = "unsigned"
    elif any(e["indication"] == "TOTAL_FAILED" for e in entries):
        verdict = "invalid"
    elif all(e["indication"] == "TOTAL_PASSED" for e in entries):
        verdict = "valid"
    else:
        verdict = "indeterminate"
    return {"verdict": verdict, "all_passed": verdict == "valid"}


# What a person sees — the verify page and the downloadable report share this one mapping. ETSI keeps a revoked
# signer without proof of existence before the revocation INDETERMINATE (a later proof could still save it); for a
# person relying on the document today that signature cannot be trusted, so it shows red, with the reason.
RED_SUB_INDICATIONS = frozenset({"REVOKED_NO_POE", "REVOKED_CA_NO_POE", "REVOKED"})
_COLOUR = {"TOTAL_PASSED": "green", "INDETERMINATE": "amber", "TOTAL_FAILED": "red"}


def colour(indication: str | None, sub_indication: str | None = None) -> str:
    """green / amber / red for one signature or document timestamp."""
    if sub_indication in RED_SUB_INDICATIONS:
        return "red"
    return _COLOUR.get(indication or "", "amber")


def document_colour(signatures: list[dict], timestamps: list[dict] | None = None) -> str:
    """red if any entry is red, green if there are signatures and every entry is green, amber otherwise."""
    colours = [colour(e.get("indication"), e.get("sub_indication")) for e in [*signatures, *(timestamps or [])]]
    if "red" in colours:
        return "red"
    return "green" if signatures and all(c == "green" for c in colours) else "amber"
