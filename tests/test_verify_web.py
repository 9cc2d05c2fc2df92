"""POST /api/v1/verify: the JSON contract, the downloadable reports, and any input answered in bounded time with
a verdict or a 4xx (never a 500, a hang or a trace); size and rate limits."""
from __future__ import annotations

import dataclasses
import io
import re
import subprocess
from xml.etree import ElementTree

import pytest

from tests.test_verify_support import kyso_holder, sign, simple_pdf

SIG_KEYS = {"field", "signer", "issuer", "signing_time", "timestamp", "intact", "trusted", "revocation", "coverage",
            "modifications", "level", "indication", "sub_indication", "messages"}


@pytest.fixture(scope="module")
def blt_pdf(instance):
    return sign(simple_pdf(), kyso_holder(instance.authority, "official"), instance.authority, level="B-LT")


def post(client, data: bytes, fmt: str | None = None, name: str = "van-ban.pdf"):
    url = "/api/v1/verify" + (f"?format={fmt}" if fmt else "")
    return client.post(url, data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def make_app(instance, **config):
    from web.app import create_app

    settings = config.pop("settings", instance.settings)
    return create_app(settings, instance=instance, config={"TESTING": True, "KYSO_VERIFY_WORKERS": 1, **config})


def close_pool(app):
    pool = app.extensions.get("kyso_verify_pool")
    if pool is not None:
        pool.close()


def test_json_report_follows_the_contract(client, blt_pdf):
    r = post(client, blt_pdf)
    assert r.status_code == 200, r.data
    body = r.get_json()
    assert set(body["document"]) >= {"sha256", "signature_count"}
    import hashlib

    assert body["document"]["sha256"] == hashlib.sha256(blt_pdf).hexdigest()
    sig = body["signatures"][0]
    assert SIG_KEYS <= set(sig)
    assert set(sig["signer"]) >= {"cn", "o", "ou", "title", "uid"}
    assert set(sig["timestamp"]) == {"time", "tsa", "valid"}
    assert set(sig["revocation"]) == {"status", "source", "embedded"}
    assert (sig["indication"], sig["level"], sig["coverage"]) == ("TOTAL_PASSED", "B-LT", "entire_revision")
    assert sig["signer"]["title"] == "Trưởng phòng"
    assert set(sig["messages"]) == {"vi", "en"} and sig["messages"]["vi"][0] == "Chữ ký hợp lệ."
    assert "decree30" in body["document"]


def test_html_report_download(client, blt_pdf):
    r = post(client, blt_pdf, "html")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    html = r.get_data(as_text=True)
    assert "Nguyễn Thị Hằng" in html and "Chữ ký hợp lệ." in html and "The signature is valid." in html
    assert html.index("Báo cáo xác thực chữ ký số") < html.index("Signature verification report")  # vi first
    assert 'class="sig green"' in html
    assert "<script" not in html


def test_html_report_colours(instance):
    from web.verification import render_report

    report = {"document": {"sha256": "ab" * 32, "signature_count": 2, "timestamp_count": 0, "validation_time": "x",
                           "verdict": "invalid", "decree30": {"satisfied": False, "messages": {"vi": [], "en": []}}},
              "signatures": [], "document_timestamps": []}
    for ind, colour in (("INDETERMINATE", "amber"), ("TOTAL_FAILED", "red")):
        sig = {"field": "S", "signer": {"cn": "Đà Nẵng <b>", "uid": []}, "issuer": None, "signing_time": None,
               "timestamp": None, "intact": False, "trusted": False,
               "revocation": {"status": "unknown", "source": "none", "embedded": False}, "coverage": "partial",
               "modifications": "other", "certified": False, "level": "none", "indication": ind,
               "sub_indication": "X", "messages": {"vi": ["v"], "en": ["e"]}}
        report["signatures"] = [sig]
        html = render_report(report)
        assert f'class="sig {colour}"' in html
        assert "Đà Nẵng &lt;b&gt;" in html  # escaped


def test_etsi_xml_on_request(client, blt_pdf):
    r = post(client, blt_pdf, "xml")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    root = ElementTree.fromstring(r.data)
    assert "urn:etsi:019102:mainindication:total-passed" in [e.text for e in root.iter()]


def test_unsigned_pdf_gets_a_verdict(client):
    r = post(client, simple_pdf())
    assert r.status_code == 200
    body = r.get_json()
    assert body["document"]["signature_count"] == 0 and body["signatures"] == []
    assert body["document"]["verdict"] == "unsigned"


def _encrypted(tmp_path, user: str) -> bytes:
    src, dst = tmp_path / "in.pdf", tmp_path / "enc.pdf"
    src.write_bytes(simple_pdf())
    subprocess.run(["qpdf", "--encrypt", user, "chu-so-huu", "256", "--", str(src), str(dst)], check=True)
    return dst.read_bytes()


def test_encrypted_pdf(client, tmp_path):
    r = post(client, _encrypted(tmp_path, "mat-khau"))
    assert r.status_code == 422 and r.get_json()["error"] == "encrypted_pdf"
    r = post(client, _encrypted(tmp_path, ""))  # owner password only: anyone may read it
    assert r.status_code == 200 and r.get_json()["document"]["verdict"] == "unsigned"


def _byte_range_trick(pdf: bytes, new: list[int]) -> bytes:
    m = re.search(rb"/ByteRange\s*\[([^\]]*)\]", pdf)
    text = b" ".join(b"%d" % v for v in new)
    text = text.ljust(len(m.group(1)))[: len(m.group(1))]
    return pdf[: m.start(1)] + text + pdf[m.end(1):]


def hostile_inputs(signed: bytes) -> dict[str, bytes]:
    br = [int(v) for v in re.search(rb"/ByteRange\s*\[([^\]]*)\]", signed).group(1).split()]
    return {
        "not_a_pdf": "Đây không phải PDF".encode(),
        "header_only": b"%PDF-1.7\n",
        "garbage": b"%PDF-1.7\n" + bytes(range(256)) * 40,
        "truncated_signed": signed[: len(signed) // 2],
        "self_reference": (b"%PDF-1.7\n1 0 obj\n1 0 R\nendobj\n2 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                           b"trailer\n<< /Root 2 0 R >>\n%%EOF\n"),
        "circular_pages": simple_pdf().replace(b"/Kids [3 0 R]", b"/Kids [2 0 R]"),
        "circular_prev": re.sub(rb"trailer\n<< /Size (\d+) /Root 1 0 R >>\nstartxref\n(\d+)",
                                lambda m: b"trailer\n<< /Size " + m.group(1) + b" /Root 1 0 R /Prev " + m.group(2)
                                + b" >>\nstartxref\n" + m.group(2), simple_pdf()),
        "deep_nesting": b"%PDF-1.7\n1 0 obj\n" + b"[" * 200000 + b"]" * 200000 + b"\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF",
        "byte_range_past_end": _byte_range_trick(signed, [0, br[1], br[2], br[3] + 10 ** 6]),
        "byte_range_overlap": _byte_range_trick(signed, [0, br[1] + 100, br[2] - 100, br[3]]),
        "byte_range_skips_start": _byte_range_trick(signed, [50, br[1] - 50, br[2], br[3]]),
        "signature_in_appended_revision": signed + b"\n%%EOF\n" + signed,
    }


def test_any_input_is_answered_with_a_verdict_or_a_4xx(client, instance):
    signed = sign(simple_pdf(), kyso_holder(instance.authority, "official"), instance.authority, level="B-B")
    for name, data in hostile_inputs(signed).items():
        r = post(client, data)
        assert r.status_code in (200, 400, 413, 422), (name, r.status_code, r.data[:300])
        body = r.get_json()
        assert body is not None, name
        if r.status_code == 200:
            for sig in body["signatures"]:
                assert sig["indication"] != "TOTAL_PASSED" or name == "signature_in_appended_revision", (name, sig)
        else:
            assert body["error"] and body["message_vi"] and body["message_en"], name
            assert "Traceback" not in r.get_data(as_text=True)
    # the byte-range tricks in particular are verdicts, and failing ones
    for name in ("byte_range_past_end", "byte_range_overlap", "byte_range_skips_start"):
        body = post(client, hostile_inputs(signed)[name]).get_json()
        if "signatures" in body and body["signatures"]:
            assert body["signatures"][0]["indication"] in ("TOTAL_FAILED", "INDETERMINATE"), name


def test_missing_file_and_bad_format(client, blt_pdf):
    r = client.post("/api/v1/verify", data={}, content_type="multipart/form-data")
    assert r.status_code == 400 and r.get_json()["error"] == "file_required"
    assert post(client, blt_pdf, "docx").get_json()["error"] == "invalid_format"
    assert post(client, b"").get_json()["error"] == "empty_file"


def test_size_limit(instance):
    settings = dataclasses.replace(instance.settings, max_upload_bytes=64 * 1024)
    app = make_app(instance, settings=settings)
    try:
        big = simple_pdf() + b"%" + b"x" * (80 * 1024) + b"\n"
        r = post(app.test_client(), big)
        assert r.status_code == 413 and r.get_json()["error"] in ("pdf_too_large", "request_entity_too_large")
    finally:
        close_pool(app)


def many_revisions(pdf: bytes, n: int) -> bytes:
    """``n`` cheap incremental updates appended by hand: each costs the verifier a revision to analyse."""
    out = bytearray(pdf)
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1]
    for i in range(n):
        num, off = size + i, len(out)
        out += b"%d 0 obj\n<< /Kyso (revision %d) /A [%s] >>\nendobj\n" % (num, i, b" ".join(b"%d" % k for k in range(50)))
        xref = len(out)
        out += (b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %s /Prev %d >>\n"
                b"startxref\n%d\n%%%%EOF\n" % (num, off, num + 1, root, prev, xref))
        prev = xref
    return bytes(out)


def test_costly_document_is_cut_off_at_the_bound(instance, blt_pdf):
    """3,000 revisions take the verifier tens of seconds; with a 1 s bound the worker process is killed and the
    client gets a 422 at once; the next document is verified normally by a fresh worker."""
    settings = dataclasses.replace(instance.settings, verify_timeout_s=1)
    app = make_app(instance, settings=settings)
    try:
        client = app.test_client()
        assert post(client, blt_pdf).status_code == 200  # worker started and warm
        pool = app.extensions["kyso_verify_pool"]
        pid = next(iter(pool._all)).proc.pid  # noqa: SLF001
        r = post(client, many_revisions(blt_pdf, 3000))
        assert r.status_code == 422 and r.get_json()["error"] == "verification_timeout"
        assert pid not in [w.proc.pid for w in pool._all]  # noqa: SLF001 - the overrunning process is gone
        r = post(client, blt_pdf)
        assert r.status_code == 200 and r.get_json()["signatures"][0]["indication"] == "TOTAL_PASSED"
    finally:
        close_pool(app)


def test_rate_limit(instance, blt_pdf):
    app = make_app(instance, KYSO_VERIFY_RATE_LIMIT="2 per minute")
    try:
        client = app.test_client()
        assert [post(client, b"not a pdf").status_code for _ in range(2)] == [400, 400]
        r = post(client, blt_pdf)
        assert r.status_code == 429
        assert r.get_json()["error"] and r.get_json()["message_vi"]
    finally:
        close_pool(app)


def test_route_is_public(app):
    view = app.view_functions["verification.verify"]
    assert getattr(view, "_kyso_roles", None) == ("public",)
