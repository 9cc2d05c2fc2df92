"""The verification speed-ups give the very same report as the plain path, file for file.

Plain path: pyHanko's and asn1crypto's own code (``signer.fastpdf.disabled()``) and a ``Verifier(fast=False)``
(a trust manager built per context, no interned certificates, ``asyncio.run`` per document). Fast path: the
default, run twice so that the second run reads every per-process cache (parsed certificates, name comparisons,
trust manager). The files cover every branch the shortcuts touch: levels B-B…B-LTA, changes after signing
(content, annotations on a certified document, a second signature), a flipped byte, a foreign CA with and
without an extra root, a revoked signer with and without a timestamp before the revocation, an expired signer
checked at its proof of existence, an unsigned file.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields

from signer import fastpdf, registry
from signer.trust import TrustSet
from signer.verify import Verifier
from tests.test_verify_support import add_annotation, foreign_holder, kyso_crls, kyso_holder, sign, simple_pdf


def _incremental(pdf: bytes, change) -> bytes:  # noqa: ANN001
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(w)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _add_content(w: IncrementalPdfFileWriter) -> None:
    page = w.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 700 Td (Them sau khi ky) Tj ET")
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), w.add_object(stream)])
    w.update_container(page)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):  # noqa: ANN201
    """A signer under a CA kyso does not know, and that CA's root as a PEM file (for KYSO_EXTRA_ROOTS)."""
    holder, root = foreign_holder()
    root_pem = tmp_path_factory.mktemp("foreign") / "root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return holder, root_pem


@pytest.fixture(scope="module")
def corpus(instance, foreign) -> dict[str, tuple[bytes, dt.datetime | None]]:
    from ca import revocation

    auth = instance.authority
    official = kyso_holder(auth, "official")
    agency = kyso_holder(auth, "agency")
    files: dict[str, tuple[bytes, dt.datetime | None]] = {}
    for level in ("B-B", "B-T", "B-LT", "B-LTA"):
        files[level] = (sign(simple_pdf(), official, auth, level=level), None)
    blt = files["B-LT"][0]
    files["B-LT + content added"] = (_incremental(blt, _add_content), None)
    files["B-T + content added"] = (_incremental(files["B-T"][0], _add_content), None)
    files["B-LT + second signature"] = (sign(blt, agency, auth, level="B-LT", field="CoQuan"), None)
    files["three pages, two signatures B-T"] = (
        sign(sign(simple_pdf(pages=3), official, auth, level="B-T", field="NguoiKy"), agency, auth, level="B-T",
             field="CoQuan"), None)
    certified = sign(simple_pdf(), official, auth, level="B-T", certify=True, docmdp=fields.MDPPerm.NO_CHANGES)
    files["certified"] = (certified, None)
    files["certified + annotation"] = (_incremental(certified, add_annotation), None)
    flipped = bytearray(sign(simple_pdf("Quyet dinh so 45"), official, auth, level="B-LT"))
    flipped[flipped.index(b"Quyet dinh so 45")] ^= 0x01
    files["flipped byte"] = (bytes(flipped), None)
    files["foreign CA"] = (sign(simple_pdf(), foreign[0], auth, level="B-T"), None)
    after_expiry = official.cert.not_valid_after_utc + dt.timedelta(days=1)
    files["expired, B-B"] = (files["B-B"][0], after_expiry)
    files["expired, B-LT"] = (blt, after_expiry)
    revoked = kyso_holder(auth, "official")
    # The B-LT signature below is validated (by pyHanko, when signing) at its timestamp's time, 2 s back, against
    # the CRLs it embeds, which must not be newer than that: another test may have published one a moment ago.
    newest, deadline = max(c["tbs_cert_list"]["this_update"].native for c in kyso_crls(auth)), time.monotonic() + 4
    while dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2) <= newest and time.monotonic() < deadline:
        time.sleep(0.1)
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    stamped = sign(simple_pdf(), revoked, auth, level="B-LT", tsa_clock=before)
    plain = sign(simple_pdf(), revoked, auth, level="B-B")
    revocation.revoke(auth, revoked.serial_hex, "keyCompromise", actor="tests")
    files["revoked after the timestamp"] = (stamped, None)
    files["revoked, no timestamp"] = (plain, None)
    files["unsigned"] = (simple_pdf(), None)
    return files


def _reports(instance, pdf: bytes, moment: dt.datetime, extra_roots=()) -> list[str]:  # noqa: ANN001
    settings = dataclasses.replace(instance.settings, extra_roots=tuple(extra_roots))
    out = []
    with fastpdf.disabled():
        plain = Verifier(instance.authority, TrustSet.from_authority(instance.authority, settings.extra_roots),
                         fast=False)
        r = plain.verify(pdf, moment=moment, xml=True)
        out.append(json.dumps(r.report, sort_keys=True, ensure_ascii=False) + (r.xml or ""))
    fast = Verifier.for_authority(instance.authority, settings)
    for _ in range(2):
        r = fast.verify(pdf, moment=moment, xml=True)
        out.append(json.dumps(r.report, sort_keys=True, ensure_ascii=False) + (r.xml or ""))
    return out


CASES = ["B-B", "B-T", "B-LT", "B-LTA", "B-LT + content added", "B-T + content added", "B-LT + second signature",
         "three pages, two signatures B-T", "certified", "certified + annotation", "flipped byte", "foreign CA",
         "expired, B-B", "expired, B-LT", "revoked after the timestamp", "revoked, no timestamp", "unsigned"]


@pytest.mark.parametrize("case", CASES)
def test_fast_path_gives_the_plain_report(case, corpus, instance):
    pdf, moment = corpus[case]
    moment = moment or dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    plain, fast, again = _reports(instance, pdf, moment)
    assert fast == plain
    assert again == plain


def test_fast_path_with_an_extra_root(corpus, foreign, instance):
    pdf, _ = corpus["foreign CA"]
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    plain, fast, again = _reports(instance, pdf, moment, extra_roots=[foreign[1]])
    assert '"trusted": true' in plain and '"TRY_LATER"' in plain  # the extra root is used on both paths
    assert fast == plain and again == plain


def test_the_cases_cover_what_the_shortcuts_must_not_change(corpus, instance):
    """The corpus really has later revisions of every kind, not only files the signature covers whole."""
    fast = Verifier.for_authority(instance.authority, instance.settings)
    seen = set()
    for case in CASES:
        pdf, moment = corpus[case]
        for s in fast.verify(pdf, moment=moment).report["signatures"]:
            seen.add((s["coverage"], s["modifications"]))
            seen.add(s["sub_indication"])
    assert {("entire_document", "none"), ("entire_revision", "none"), ("entire_revision", "other"),
            ("entire_revision", "form_filling")} <= seen
    assert {None, "HASH_FAILURE", "SIG_CONSTRAINTS_FAILURE", "NO_CERTIFICATE_CHAIN_FOUND", "REVOKED_NO_POE",
            "OUT_OF_BOUNDS_NO_POE"} <= seen


def test_interned_certificates_are_the_same_certificates():
    """A certificate handed out by the intern table has the same DER; a broken one is passed through as is."""
    from asn1crypto import x509 as asn1_x509

    holder, _root = foreign_holder("Lê Văn Tám")
    der = holder.cert.public_bytes(serialization.Encoding.DER)
    a = fastpdf.intern_certificate(asn1_x509.Certificate.load(der))
    b = fastpdf.intern_certificate(asn1_x509.Certificate.load(der))
    assert a is b and a.dump() == der and a.subject.native["common_name"] == "Lê Văn Tám"
    broken = asn1_x509.Certificate.load(der[:-1] + bytes([der[-1] ^ 0xFF]))  # same length, bad signature bits
    assert fastpdf.intern_certificate(broken).dump() == broken.dump()
    junk = asn1_x509.Certificate.load(b"\x30\x03\x02\x01\x01")
    assert fastpdf.intern_certificate(junk) is junk


def test_registry_answers_as_the_revocation_service(instance):
    """The pooled-connection lookups give what ``ca.revocation.status`` and the ORM give."""
    from sqlalchemy import select

    from ca import revocation
    from ca.store.models import Certificate

    good = kyso_holder(instance.authority, "agency")
    gone = kyso_holder(instance.authority, "official")
    revocation.revoke(instance.authority, gone.serial_hex, "affiliationChanged", actor="tests")
    for holder in (good, gone):
        serial = holder.cert.serial_number
        assert registry.status(instance.authority, serial) == registry.RegistryStatus(
            *revocation.status(instance.authority, serial))
        with instance.store.read() as s:
            orm = s.execute(select(Certificate.profile).where(Certificate.serial == holder.serial_hex)).scalar()
        assert registry.profile(instance.authority, serial) == orm
    assert registry.status(instance.authority, gone.cert.serial_number).status == "revoked"
    assert registry.status(instance.authority, 12345).status == "unknown"
    assert registry.profile(instance.authority, 12345) is None
    assert registry.status(instance.authority, good.cert.serial_number, "root").status == "unknown"


def test_pdf_tokens_read_as_pyhanko_reads_them():
    """The faster token reader and name decoder: same value (or same error) and same stream position as pyHanko's,
    over every short string of PDF-ish bytes drawn at random (seeded), and long runs."""
    import random

    from pyhanko.pdf_utils import misc

    alphabet = b"ab/#()<>[]{}%09AF \n\r\t\f\x00\x80\xff~!."
    rng = random.Random(20261122)

    def until(fn, data: bytes, chars: bytes):  # noqa: ANN001, ANN202
        s = io.BytesIO(data)
        try:
            return fn(chars, s), s.tell()
        except Exception as exc:  # noqa: BLE001
            return "error", type(exc).__name__, s.tell()

    def name(fn, data: bytes):  # noqa: ANN001, ANN202
        try:
            value = fn(data)
            return type(value).__name__, str(value)
        except Exception as exc:  # noqa: BLE001
            return "error", type(exc).__name__, str(exc)

    samples = [bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20000)]
    samples += [b"Type" * 2000, b"Type" * 2000 + b" x", b"/A#20B", b"A#2", b"A#zz", "Hằng".encode(), b""]
    for data in samples:
        for chars in (misc.PDF_WHITESPACE, misc.PDF_WHITESPACE + misc.PDF_DELIMITERS):
            assert until(fastpdf._read_until_class, data, chars) == until(fastpdf._original_until, data, chars)  # noqa: SLF001
        assert name(fastpdf._decode_name, data) == name(fastpdf._original_decode_name, data)  # noqa: SLF001
    s = io.BytesIO(b"12345 0 obj")
    assert fastpdf._read_until_class(misc.PDF_WHITESPACE, s, maxchars=3) == \
        fastpdf._original_until(misc.PDF_WHITESPACE, io.BytesIO(b"12345 0 obj"), maxchars=3)  # noqa: SLF001
