"""POST /api/v1/sign and friends through the Flask app: activation, who may sign, batch, images, and every
kind of bad input → 4xx JSON in Vietnamese and English with nothing written."""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca.store.models import AuditEvent, SignatureRecord
from tests.pdf_factory import encrypted_pdf, make_pdf
from tests.sign_support import (make_clerk, make_official, pdfsig_valid_count, seal_png, signature_png,
                                without_activation)
from tests.support import auth


def post_sign(client, token: str, pdf: bytes, path: str = "/api/v1/sign", **fields):  # noqa: ANN001, ANN201
    data = {k: str(v) for k, v in fields.items()}
    data["file"] = (io.BytesIO(pdf), "công-văn.pdf")
    return client.post(path, data=data, headers=auth(token), content_type="multipart/form-data")


def counts(instance) -> tuple[int, int]:  # noqa: ANN001
    with instance.store.read() as s:
        return (s.execute(select(func.count()).select_from(SignatureRecord)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def assert_error(resp, status: int, code: str) -> dict:  # noqa: ANN001
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    body = resp.get_json()
    assert body["error"] == code, body
    assert body["message_vi"] and body["message_en"] and body["message_vi"] != body["message_en"]
    assert "Traceback" not in resp.get_data(as_text=True)
    return body


@pytest.fixture(scope="module")
def official(instance):  # noqa: ANN001, ANN201
    return make_official(instance)


@pytest.fixture(scope="module")
def quiet_app(instance):  # noqa: ANN001, ANN201
    from web.app import create_app

    return create_app(instance=without_activation(instance), config={"TESTING": True})


def test_sign_with_totp_records_and_audits(instance, client, tmp_path: Path) -> None:  # noqa: ANN001
    off = make_official(instance)
    pdf = make_pdf(1, title=f"Cong van {off.username}")  # a document no other test signs
    resp = post_sign(client, off.token, pdf, level="B-LT", appearance="signer", otp=off.otp(instance))
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "application/pdf"
    out = tmp_path / "s.pdf"
    out.write_bytes(resp.data)
    assert pdfsig_valid_count(out) == (1, 1)
    import hashlib

    doc_sha = hashlib.sha256(pdf).hexdigest()
    assert resp.headers["X-Kyso-Document-SHA256"] == doc_sha
    assert resp.headers["X-Kyso-Signed-SHA256"] == hashlib.sha256(resp.data).hexdigest()
    with instance.store.read() as s:
        rec = s.execute(select(SignatureRecord).where(SignatureRecord.signed_sha256 == hashlib.sha256(resp.data).hexdigest())).scalar_one()
        assert rec.document_sha256 == doc_sha and rec.level == "B-LT" and rec.appearance == "signer"
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "sign.pdf", AuditEvent.target == doc_sha,
                                                AuditEvent.actor == off.username)).scalar_one()
        assert ev.actor == off.username and ev.details["certificate"] == off.serial
        assert ev.details["signed_sha256"] == rec.signed_sha256


def test_wrong_missing_and_reused_otp_are_refused(instance, client) -> None:  # noqa: ANN001
    off = make_official(instance)
    pdf = make_pdf(1)
    before = counts(instance)
    assert_error(post_sign(client, off.token, pdf, level="B-B"), 403, "otp_required")
    code = off.otp(instance)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert_error(post_sign(client, off.token, pdf, level="B-B", otp=wrong), 403, "otp_invalid")
    assert counts(instance) == before
    assert post_sign(client, off.token, pdf, level="B-B", otp=code).status_code == 200
    assert_error(post_sign(client, off.token, pdf, level="B-B", otp=code), 403, "otp_reused")
    assert counts(instance)[0] == before[0] + 1


def test_bad_documents_are_refused_with_nothing_written(instance, quiet_app, official) -> None:  # noqa: ANN001
    client = quiet_app.test_client()
    good = make_pdf(2)
    cases = [
        (b"Xin ch\xc3\xa0o, \xc4\x91\xc3\xa2y kh\xc3\xb4ng ph\xe1\xba\xa3i PDF", {}, 400, "not_a_pdf"),
        (encrypted_pdf(), {}, 400, "encrypted_pdf"),
        (good[: len(good) // 2], {}, 400, "broken_pdf"),
        (good, {"appearance": "signer", "page": 3}, 400, "page_out_of_range"),
        (good, {"appearance": "signer", "page": 1, "box": "500,700,700,800"}, 400, "box_off_page"),
        (good, {"appearance": "signer", "page": 1, "box": "a,b"}, 400, "invalid_box"),
        (good, {"level": "B-XL"}, 400, "invalid_level"),
        (good, {"appearance": "watermark"}, 400, "invalid_appearance"),
        (good, {"appearance": "attachment"}, 400, "doc_number_required"),
        (good, {"appearance": "copy", "copy_form": "BẢN CHÍNH"}, 400, "invalid_copy_form"),
    ]
    before = counts(instance)
    for pdf, fields, status, code in cases:
        assert_error(post_sign(client, official.token, pdf, **fields), status, code)
    assert counts(instance) == before


def test_size_limits(instance, official) -> None:  # noqa: ANN001
    from ca.instance import Instance
    from web.app import create_app

    small = without_activation(instance)
    small = Instance(replace(small.settings, max_upload_bytes=20_000), small.store, small.keystore, small.authority)
    client = create_app(instance=small, config={"TESTING": True}).test_client()
    big = make_pdf(80)  # ~26 kB: over the 20 kB limit, under the request limit (limit + 256 kB)
    assert len(big) > 20_000
    assert_error(post_sign(client, official.token, big), 413, "pdf_too_large")
    huge = make_pdf(1) + b"%" + b"x" * 400_000  # over the request limit: refused before it is read
    resp = post_sign(client, official.token, huge)
    assert resp.status_code == 413 and resp.get_json()["error"] == "request_entity_too_large"


def test_missing_signature_image_and_roles(instance, quiet_app, make_user) -> None:  # noqa: ANN001
    client = quiet_app.test_client()
    no_image = make_official(instance, image=False)
    clerk_no_seal = make_clerk(instance, seal=False)
    clerk = make_clerk(instance)
    _, auditor = make_user("auditor")
    _, no_cert = make_user("official")
    before = counts(instance)
    assert_error(post_sign(client, no_image.token, make_pdf(1), appearance="signer"), 409, "missing_signature_image")
    assert_error(post_sign(client, clerk_no_seal.token, make_pdf(1), appearance="seal", box="50,50,150,150"),
                 409, "missing_signature_image")
    assert_error(post_sign(client, auditor, make_pdf(1)), 403, "forbidden")
    assert_error(post_sign(client, no_cert, make_pdf(1)), 404, "no_signing_certificate")
    # an official may not sign with an agency's seal certificate, even when naming it
    assert_error(post_sign(client, no_image.token, make_pdf(1), certificate=clerk.serial), 403, "signer_not_allowed")
    assert counts(instance) == before


def test_clerk_uses_the_seal_of_their_own_agency_only(instance, quiet_app) -> None:  # noqa: ANN001
    from tests.conftest import new_user

    client = quiet_app.test_client()
    holder = make_clerk(instance)  # owns the agency seal certificate
    _, colleague = new_user(instance, "clerk", full_name="Lê Thị Mai", org="Công an thành phố Đà Nẵng")
    _, outsider = new_user(instance, "clerk", full_name="Phạm Văn Nam", org="Công an tỉnh Quảng Nam")
    assert post_sign(client, colleague, make_pdf(1), level="B-B", certificate=holder.serial).status_code == 200
    assert_error(post_sign(client, outsider, make_pdf(1), level="B-B", certificate=holder.serial),
                 403, "signer_not_allowed")


def test_revoked_and_expired_signers_are_refused(instance, quiet_app) -> None:  # noqa: ANN001
    from ca import revocation
    from ca.authority import Authority
    from ca.instance import Instance
    from web.app import create_app

    client = quiet_app.test_client()
    off = make_official(instance)
    assert post_sign(client, off.token, make_pdf(1), level="B-B").status_code == 200
    fresh = make_official(instance)
    revocation.revoke(instance.authority, off.serial, "keyCompromise", actor="tests")
    before = counts(instance)
    assert_error(post_sign(client, off.token, make_pdf(1), level="B-B"), 403, "certificate_revoked")
    assert counts(instance) == before

    later = lambda: instance.authority.clock() + dt.timedelta(days=4 * 366)  # noqa: E731 - past the 3-year validity
    future = without_activation(instance)
    future = Instance(future.settings, future.store, future.keystore,
                      Authority(future.settings, future.store, future.keystore, clock=later))
    future_client = create_app(instance=future, config={"TESTING": True}).test_client()
    assert_error(post_sign(future_client, fresh.token, make_pdf(1), level="B-B"), 403, "certificate_expired")
    assert counts(instance) == before


def test_batch_one_activation_zip(instance, client, tmp_path: Path) -> None:  # noqa: ANN001
    off = make_official(instance)
    pdfs = [make_pdf(n) for n in (1, 2, 3)]
    data = {"level": "B-T", "otp": off.otp(instance),
            "file": [(io.BytesIO(p), f"văn-bản-{i}.pdf") for i, p in enumerate(pdfs)]}
    resp = client.post("/api/v1/sign/batch", data=data, headers=auth(off.token), content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()
    z = zipfile.ZipFile(io.BytesIO(resp.data))
    names = z.namelist()
    assert len(names) == 3 and resp.headers["X-Kyso-Signed-Count"] == "3"
    for name in names:
        p = tmp_path / name
        p.write_bytes(z.read(name))
        assert pdfsig_valid_count(p) == (1, 1)
    # one bad file: nothing signed, nothing recorded
    before = counts(instance)
    data = {"level": "B-T", "otp": off.otp(instance),
            "file": [(io.BytesIO(make_pdf(1)), "a.pdf"), (io.BytesIO(b"not a pdf"), "b.pdf")]}
    resp = client.post("/api/v1/sign/batch", data=data, headers=auth(off.token), content_type="multipart/form-data")
    assert_error(resp, 400, "not_a_pdf")
    assert counts(instance) == before


def test_image_upload(instance, client) -> None:  # noqa: ANN001
    off = make_official(instance, image=False)
    clerk = make_clerk(instance, seal=False)
    r = client.post("/api/v1/me/signature-image", data={"file": (io.BytesIO(signature_png()), "chu-ky.png")},
                    headers=auth(off.token), content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["kind"] == "signature"
    r = client.post("/api/v1/me/seal-image", data=seal_png(), headers={**auth(clerk.token), "Content-Type": "image/png"})
    assert r.status_code == 200 and r.get_json()["kind"] == "seal"
    assert_error(client.post("/api/v1/me/signature-image", data=b"GIF89a....", headers=auth(off.token)),
                 400, "invalid_image")
    assert_error(client.post("/api/v1/me/seal-image", data=seal_png(), headers=auth(off.token)), 403, "forbidden")
    # the uploaded image is what the signer appearance draws
    quiet = without_activation(instance)
    from signer.service import SignOptions, sign_pdf

    assert sign_pdf(quiet, off.username, make_pdf(1), SignOptions(level="B-B", appearance="signer"))


def test_official_then_clerk_seal_both_valid_and_certify_lock(instance, quiet_app, tmp_path: Path) -> None:  # noqa: ANN001
    client = quiet_app.test_client()
    off = make_official(instance)
    clerk = make_clerk(instance)
    first = post_sign(client, off.token, make_pdf(2), level="B-LT", appearance="signer", page=2,
                      box="330,90,530,200", certify="true", reason="Phê duyệt", location="Đà Nẵng")
    assert first.status_code == 200, first.get_json()
    second = post_sign(client, clerk.token, first.data, level="B-LT", appearance="seal")
    assert second.status_code == 200, second.get_json()
    out = tmp_path / "both.pdf"
    out.write_bytes(second.data)
    assert pdfsig_valid_count(out) == (2, 2)
    assert second.data.startswith(first.data)  # incremental update: the official's revision is untouched
    # a locking signature: nothing may follow it
    locked = post_sign(client, clerk.token, make_pdf(1), level="B-B", lock="true")
    assert locked.status_code == 200
    assert_error(post_sign(client, off.token, locked.data, level="B-B"), 409, "document_locked")
    # certification must come first
    assert_error(post_sign(client, off.token, first.data, level="B-B", certify="true"), 400, "certify_not_first")
