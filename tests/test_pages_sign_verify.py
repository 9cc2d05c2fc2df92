"""The signing and verification pages through the test client, on the real signing and verification services:
preview of page 1, a signed PDF back (one file, or a ZIP, or the streamed batch with progress), refusals in
Vietnamese, and the public verification page's verdict colours."""
from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

from tests.pdf_factory import make_pdf
from tests.sign_support import make_official
from tests.web_support import csrf_token, logged_in, post

PASSWORD = "mat-khau-123"


@pytest.fixture
def official(app, instance):  # noqa: ANN001, ANN201
    signer = make_official(instance)
    return signer, logged_in(app.test_client(), signer.username, PASSWORD)


def _sign(client, files, otp, *, accept=None, **fields):  # noqa: ANN001, ANN003, ANN202
    data = {"level": "B-B", "appearance": "signer", "page": "1", "box": "350,80,550,180", "otp": otp,
            "reason": "Phê duyệt", "location": "Đà Nẵng", **fields}
    data["files"] = [(io.BytesIO(pdf), name) for name, pdf in files]
    headers = {"Accept": accept} if accept else {}
    return post(client, "/sign", data, content_type="multipart/form-data", headers=headers)


def test_preview_of_page_one_in_points(official) -> None:  # noqa: ANN001
    _, client = official
    token = csrf_token(client, "/sign")
    resp = client.post("/sign/preview", data={"file": (io.BytesIO(make_pdf(2)), "a.pdf"), "page": "1"},
                       headers={"X-CSRFToken": token, "Accept": "application/json"})
    body = resp.get_json()
    assert resp.status_code == 200 and (body["width"], body["height"], body["pages"]) == (595, 842, 2)
    png = base64.b64decode(body["image"].split(",", 1)[1])
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:  # 50 dpi: 595 pt × 50/72 ≈ 413 px
        assert abs(img.width - 413) <= 1 and abs(img.height - 585) <= 1
    bad = client.post("/sign/preview", data={"file": (io.BytesIO(b"hello"), "a.pdf")},
                      headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "not_pdf"


def test_sign_one_pdf_then_verify_it_on_the_public_page(app, instance, official) -> None:  # noqa: ANN001
    signer, client = official
    resp = _sign(client, [("Công văn số 12.pdf", make_pdf())], signer.otp(instance))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1500]
    assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")
    assert "filename*=UTF-8''C%C3%B4ng%20v%C4%83n" in resp.headers["Content-Disposition"]
    visitor = app.test_client()
    page = post(visitor, "/verify", {"file": (io.BytesIO(resp.data), "cong-van.pdf")}, page="/verify",
                content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="verdict green" id="verdict"' in html and "Chữ ký hợp lệ" in html
    assert "Nguyễn Thị Hằng" in html and 'id="download-html"' in html
    report = json.loads(base64.b64decode(html.split('href="data:application/json;base64,', 1)[1].split('"', 1)[0]))
    assert report["signatures"][0]["indication"] == "TOTAL_PASSED"


def test_wrong_totp_is_refused_and_nothing_is_signed(instance, official) -> None:  # noqa: ANN001
    signer, client = official
    good = signer.otp(instance)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    resp = _sign(client, [("a.pdf", make_pdf())], wrong)
    assert resp.status_code == 403 and "Mã TOTP không đúng" in resp.get_data(as_text=True)
    from sqlalchemy import func, select

    from ca.store.models import SignatureRecord, User

    with instance.store.read() as s:
        uid = s.execute(select(User.id).where(User.username == signer.username)).scalar_one()
        assert s.execute(select(func.count()).select_from(SignatureRecord)
                         .where(SignatureRecord.user_id == uid)).scalar_one() == 0


def test_batch_streams_progress_then_the_documents(instance, official) -> None:  # noqa: ANN001
    signer, client = official
    files = [("mot.pdf", make_pdf(1)), ("hai.pdf", make_pdf(2)), ("mot.pdf", make_pdf(3))]
    resp = _sign(client, files, signer.otp(instance), accept="application/x-ndjson")
    assert resp.status_code == 200 and resp.mimetype == "application/x-ndjson"
    events = [json.loads(line) for line in resp.get_data(as_text=True).splitlines() if line.strip()]
    counts = [e["signed"] for e in events if "signed" in e]
    assert counts[0] == 0 and counts[-3:] == [1, 2, 3] and counts == sorted(counts)
    assert all(e["total"] == 3 for e in events if "signed" in e)
    docs = events[-1]["documents"]
    assert [d["name"] for d in docs] == ["mot-signed.pdf", "hai-signed.pdf", "mot-signed-2.pdf"]
    assert all(base64.b64decode(d["pdf"]).startswith(b"%PDF") for d in docs)


def test_batch_without_script_gives_a_zip(instance, official) -> None:  # noqa: ANN001
    signer, client = official
    resp = _sign(client, [("a.pdf", make_pdf()), ("b.pdf", make_pdf())], signer.otp(instance))
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert zf.namelist() == ["a-signed.pdf", "b-signed.pdf"]


def test_streamed_refusal_is_a_message_not_a_crash(instance, official) -> None:  # noqa: ANN001
    signer, client = official
    resp = _sign(client, [("a.pdf", b"%PDF-1.7 broken")], signer.otp(instance), accept="application/x-ndjson")
    events = [json.loads(line) for line in resp.get_data(as_text=True).splitlines() if line.strip()]
    assert events[-1]["error"] and events[-1]["message"]
    bad_box = _sign(client, [("a.pdf", make_pdf())], "123456", accept="application/x-ndjson", box="1,2,3")
    assert bad_box.status_code == 400 and bad_box.get_json()["error"] == "invalid_options"


def test_verify_page_unsigned_and_garbage(app) -> None:  # noqa: ANN001
    client = app.test_client()
    unsigned = post(client, "/verify", {"file": (io.BytesIO(make_pdf()), "x.pdf")}, page="/verify",
                    content_type="multipart/form-data")
    assert unsigned.status_code == 200
    assert "Văn bản này không có chữ ký số" in unsigned.get_data(as_text=True)
    garbage = post(client, "/verify", {"file": (io.BytesIO(b"not a pdf at all"), "x.pdf")}, page="/verify",
                   content_type="multipart/form-data")
    assert garbage.status_code == 400 and 'id="verify-error"' in garbage.get_data(as_text=True)
    empty = post(client, "/verify", {}, page="/verify")
    assert empty.status_code == 400 and "Hãy chọn một tệp PDF" in empty.get_data(as_text=True)
