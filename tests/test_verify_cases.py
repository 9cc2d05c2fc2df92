"""Correctness cases of the verification service: each asserts the ETSI EN 319 102-1 indication it must produce,
and outside tools judge the same files (`pdfsig` for integrity, `openssl cms -verify` for the CMS)."""
from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields

from signer.verify import Verifier
from tests.test_verify_support import (add_annotation, foreign_holder, kyso_holder, sign, signed_content,
                                      simple_pdf)


@pytest.fixture(scope="module")
def verifier(instance):
    return Verifier.for_authority(instance.authority, instance.settings)


@pytest.fixture(scope="module")
def official(instance):
    return kyso_holder(instance.authority, "official")


@pytest.fixture(scope="module")
def agency(instance):
    return kyso_holder(instance.authority, "agency")


def pdfsig(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout


def openssl_cms_verify(pdf: bytes, tmp_path: Path, ca_pem: Path, index: int = 0) -> subprocess.CompletedProcess:
    from pyhanko.pdf_utils.reader import PdfFileReader

    emb = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[index]
    (tmp_path / "sig.der").write_bytes(emb.pkcs7_content)
    (tmp_path / "content.bin").write_bytes(signed_content(pdf, index))
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
                           "-content", str(tmp_path / "content.bin"), "-CAfile", str(ca_pem), "-purpose", "any",
                           "-out", "/dev/null"], capture_output=True, text=True, timeout=60)


def only(report: dict) -> dict:
    assert report["document"]["signature_count"] == 1
    return report["signatures"][0]


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_kyso_signature_at_every_level_passes(level, instance, verifier, official, ca_files, tmp_path):
    pdf = sign(simple_pdf(), official, instance.authority, level=level)
    report = verifier.verify(pdf).report
    sig = only(report)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_PASSED", None)
    assert sig["level"] == level
    assert sig["intact"] and sig["trusted"]
    assert sig["signer"]["cn"] == "Nguyễn Thị Hằng" and sig["signer"]["uid"] == ["CCCD:048190000123"]
    assert sig["issuer"]["o"] == "Bộ Công an"
    assert sig["revocation"] == {"status": "good", "source": "registry", "embedded": level in ("B-LT", "B-LTA")}
    assert (sig["timestamp"] is None) == (level == "B-B")
    if sig["timestamp"]:
        assert sig["timestamp"]["valid"] and sig["timestamp"]["tsa"].startswith("TSA")
        assert sig["timestamp"]["time"].endswith("+07:00")
    assert sig["messages"]["vi"][0] == "Chữ ký hợp lệ." and sig["messages"]["en"][0] == "The signature is valid."
    assert report["document"]["verdict"] == "valid"
    if level == "B-LTA":
        assert report["document"]["timestamp_count"] == 1
        assert report["document_timestamps"][0]["indication"] == "TOTAL_PASSED"
    # outside judges: poppler's integrity check and OpenSSL's CMS check against kyso's root
    assert "Signature is Valid" in pdfsig(pdf, tmp_path)
    proc = openssl_cms_verify(pdf, tmp_path, ca_files["root"])
    assert proc.returncode == 0, proc.stderr


def _revoke(instance, holder) -> None:
    """Revoke ``holder``'s certificate now with kyso's revocation service (real clock: the CRLs and the audit log
    of the shared test instance stay in order)."""
    from ca import revocation

    revocation.revoke(instance.authority, holder.serial_hex, "keyCompromise", actor="tests")


def _two_seconds_ago() -> dt.datetime:
    # revocation times are kept to the second: a timestamp 2 s back is surely before a revocation made after it
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)


def test_revoked_after_a_timestamped_signature_still_passes(instance, verifier):
    holder = kyso_holder(instance.authority, "official")
    pdf = sign(simple_pdf(), holder, instance.authority, level="B-T", tsa_clock=_two_seconds_ago())
    _revoke(instance, holder)
    sig = only(verifier.verify(pdf).report)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_PASSED", None)
    assert sig["revocation"]["status"] == "revoked" and sig["revocation"]["source"] == "registry"
    assert any("sau thời điểm ký" in m for m in sig["messages"]["vi"])


def test_revoked_without_timestamp_is_revoked_no_poe(instance, verifier, tmp_path):
    holder = kyso_holder(instance.authority, "official")
    pdf = sign(simple_pdf(), holder, instance.authority, level="B-B")
    _revoke(instance, holder)
    report = verifier.verify(pdf).report
    sig = only(report)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE")
    assert sig["revocation"]["status"] == "revoked"
    assert sig["intact"]
    assert report["document"]["verdict"] == "indeterminate"
    assert "Signature is Valid" in pdfsig(pdf, tmp_path)  # the bytes are fine; the certificate is not
    # a person sees red for it, on the page and in the downloadable report alike (one shared mapping)
    from web.verification import render_report

    html = render_report(report)
    assert 'class="sig red"' in html and 'class="verdict red"' in html, html[:2000]


def test_revoked_before_the_timestamp_is_revoked_no_poe(instance, verifier):
    holder = kyso_holder(instance.authority, "official")
    _revoke(instance, holder)
    pdf = sign(simple_pdf(), holder, instance.authority, level="B-T",
               tsa_clock=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2))
    sig = only(verifier.verify(pdf, moment=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)).report)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "REVOKED_NO_POE")


def test_expired_signer(instance, verifier, official):
    after_expiry = official.cert.not_valid_after_utc + dt.timedelta(days=1)
    plain = sign(simple_pdf(), official, instance.authority, level="B-B")
    sig = only(verifier.verify(plain, moment=after_expiry).report)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE")
    stamped = sign(simple_pdf(), official, instance.authority, level="B-T")
    sig = only(verifier.verify(stamped, moment=after_expiry).report)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_PASSED", None)
    assert any("đã hết hạn" in m for m in sig["messages"]["vi"])


def test_one_flipped_byte_is_hash_failure(instance, verifier, official, ca_files, tmp_path):
    pdf = bytearray(sign(simple_pdf("Quyet dinh so 45"), official, instance.authority, level="B-T"))
    at = pdf.index(b"Quyet dinh so 45")
    pdf[at] ^= 0x01  # 'Q' -> 'P' inside the signed content stream
    report = verifier.verify(bytes(pdf)).report
    sig = only(report)
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL_FAILED", "HASH_FAILURE")
    assert not sig["intact"]
    assert report["document"]["verdict"] == "invalid"
    out = pdfsig(bytes(pdf), tmp_path)
    assert "Digest Mismatch" in out and "Signature is Valid" not in out
    assert openssl_cms_verify(bytes(pdf), tmp_path, ca_files["root"]).returncode != 0


def _add_content_after_signing(pdf: bytes, text: str = "Them noi dung sau khi ky") -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref = w.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=f"BT /F1 14 Tf 72 700 Td ({text}) Tj ET".encode())
    contents = generic.ArrayObject([page.raw_get("/Contents"), w.add_object(stream)])
    page["/Contents"] = contents
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_content_added_after_signing_is_reported(instance, verifier, official, tmp_path):
    pdf = _add_content_after_signing(sign(simple_pdf(), official, instance.authority, level="B-T"))
    sig = only(verifier.verify(pdf).report)
    assert sig["modifications"] == "other"
    assert sig["coverage"] == "entire_revision"
    assert sig["intact"]  # what was signed is untouched …
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")  # … but
    out = pdfsig(pdf, tmp_path)
    assert "Not total document signed" in out and "Signature is Valid" in out


def test_foreign_ca_is_no_certificate_chain_found(instance, verifier, tmp_path):
    holder, root = foreign_holder()
    pdf = sign(simple_pdf(), holder, instance.authority, level="B-B")
    sig = only(verifier.verify(pdf).report)
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert sig["intact"] and not sig["trusted"]
    assert sig["signer"]["cn"] == "Trần Văn Nam"
    # the CMS itself is sound: OpenSSL verifies it against the foreign root
    root_pem = tmp_path / "foreign-root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    assert openssl_cms_verify(pdf, tmp_path, root_pem).returncode == 0
    # an operator who adds that root (KYSO_EXTRA_ROOTS) gets a trusted chain; no revocation data → TRY_LATER
    import dataclasses

    settings = dataclasses.replace(instance.settings, extra_roots=(root_pem,))
    sig = only(Verifier.for_authority(instance.authority, settings).verify(pdf).report)
    assert sig["trusted"]
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "TRY_LATER")
    assert sig["revocation"] == {"status": "unknown", "source": "none", "embedded": False}


def test_two_signatures_official_and_agency_meet_decree_30(instance, verifier, official, agency, tmp_path):
    one = sign(simple_pdf(), official, instance.authority, level="B-T", field="NguoiKy")
    report = verifier.verify(one).report
    assert report["document"]["decree30"]["satisfied"] is False
    assert report["document"]["decree30"]["individual_signers"] == ["Nguyễn Thị Hằng"]
    two = sign(one, agency, instance.authority, level="B-T", field="CoQuan")
    report = verifier.verify(two).report
    assert report["document"]["signature_count"] == 2
    assert [s["field"] for s in report["signatures"]] == ["NguoiKy", "CoQuan"]
    assert all(s["indication"] == "TOTAL_PASSED" for s in report["signatures"])
    assert report["signatures"][0]["modifications"] == "form_filling"  # a later signature is allowed
    assert report["signatures"][0]["coverage"] == "entire_revision"
    assert report["signatures"][1]["coverage"] == "entire_document"
    d30 = report["document"]["decree30"]
    assert d30["satisfied"] and d30["agency_signers"] == ["Công an thành phố Đà Nẵng"]
    out = pdfsig(two, tmp_path)
    assert out.count("Signature is Valid") == 2


def test_certified_document_changed_against_docmdp(instance, verifier, official):
    certified = sign(simple_pdf(), official, instance.authority, level="B-T", certify=True,
                     docmdp=fields.MDPPerm.NO_CHANGES)
    sig = only(verifier.verify(certified).report)
    assert sig["certified"] and sig["indication"] == "TOTAL_PASSED"
    w = IncrementalPdfFileWriter(io.BytesIO(certified), strict=False)
    add_annotation(w)
    out = io.BytesIO()
    w.write(out)
    sig = only(verifier.verify(out.getvalue()).report)
    assert sig["certified"]
    assert sig["modifications"] in ("annotations", "other")
    assert (sig["indication"], sig["sub_indication"]) == ("INDETERMINATE", "SIG_CONSTRAINTS_FAILURE")
    assert any("chứng nhận" in m for m in sig["messages"]["vi"])


def test_etsi_xml_report(instance, verifier, official):
    from xml.etree import ElementTree

    pdf = sign(simple_pdf(), official, instance.authority, level="B-T")
    xml = verifier.verify(pdf, xml=True).xml
    root = ElementTree.fromstring(xml)
    texts = [e.text for e in root.iter() if e.text]
    assert "urn:etsi:019102:mainindication:total-passed" in texts
    assert root.tag.endswith("ValidationReport")
