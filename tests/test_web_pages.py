"""Pages for people, through Flask's test client on the real instance (SoftHSM, SQLite): log in and out,
throttling, CSRF, headers, language, my account, administration. Every state change is audited."""
from __future__ import annotations

import re
import uuid

import pyotp
import pytest

from tests.support import ADMIN_PASSWORD
from tests.web_support import audit_actions, csrf_token, logged_in, login, png, post

PASSWORD = "mat-khau-123"


@pytest.fixture
def admin(app):  # noqa: ANN001, ANN201
    return logged_in(app.test_client(), "admin", ADMIN_PASSWORD)


def test_login_logout_audited(app, make_user, instance) -> None:  # noqa: ANN001
    name, _ = make_user("official")
    client = app.test_client()
    resp = login(client, name, PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    page = client.get("/account/").get_data(as_text=True)
    assert name in page and "Nguyễn Thị Hằng" in page and "Tài khoản của tôi" in page
    assert "mat-khau" not in page and "$argon2" not in page
    assert post(client, "/logout").status_code == 302
    assert client.get("/account/").status_code == 302  # back to the login page
    assert [a for _, a in audit_actions(instance, name)][-2:] == ["auth.login", "auth.logout"]


def test_wrong_password_is_refused_in_vietnamese_and_audited(app, make_user, instance) -> None:  # noqa: ANN001
    name, _ = make_user("clerk")
    client = app.test_client()
    resp = login(client, name, "sai-mat-khau", REMOTE_ADDR="10.7.0.1")
    assert resp.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in resp.get_data(as_text=True)
    assert ("%s" % name, "auth.login_failed") in audit_actions(instance, name)
    assert client.get("/account/").status_code == 302


def test_login_is_throttled_after_repeated_failures(app, make_user) -> None:  # noqa: ANN001
    name, _ = make_user("official")
    client = app.test_client()
    addr = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    for _ in range(5):
        assert login(client, name, "sai-mat-khau", REMOTE_ADDR=addr).status_code == 401
    # the door is closed for this user from this address, even with the right password
    blocked = login(client, name, PASSWORD, REMOTE_ADDR=addr)
    assert blocked.status_code == 429
    assert "Quá nhiều yêu cầu" in blocked.get_data(as_text=True)
    # another address is not affected
    assert login(app.test_client(), name, PASSWORD, REMOTE_ADDR="10.8.0.2").status_code == 302


def test_forms_need_a_csrf_token_but_the_bearer_api_does_not(app, admin_token) -> None:  # noqa: ANN001
    client = app.test_client()
    resp = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "csrf_failed"
    api = client.post("/api/v1/certificates", json={"profile": "nope"},
                      headers={"Authorization": f"Bearer {admin_token}"})
    assert api.status_code == 400 and api.get_json()["error"] != "csrf_failed"


def test_security_headers_and_no_inline_script_or_style(admin) -> None:  # noqa: ANN001
    for path in ("/", "/login", "/verify", "/account/", "/admin/users", "/admin/certificates", "/admin/audit",
                 "/admin/status", "/admin/certificates/new", "/api/docs", "/account/totp"):
        resp = admin.get(path)
        assert resp.status_code == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert resp.headers["Cache-Control"] == "no-store"
        html = resp.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S):
            assert 'name="csrf_token"' in form, path


def test_session_cookie_is_httponly_and_samesite(app, make_user) -> None:  # noqa: ANN001
    name, _ = make_user("auditor")
    client = app.test_client()
    resp = login(client, name, PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_vietnamese_by_default_english_by_switch(app) -> None:  # noqa: ANN001
    client = app.test_client()
    assert "Kiểm tra văn bản đã ký" in client.get("/").get_data(as_text=True)
    resp = client.get("/lang/en", headers={"Referer": "http://localhost/verify"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/verify"
    page = client.get("/").get_data(as_text=True)
    assert "Verify a signed PDF" in page and '<html lang="en">' in page
    err = client.get("/admin/nothing-here")
    assert err.status_code == 404 and "Not found." in err.get_data(as_text=True)
    bad = login(client, "nobody", "wrong-password")
    assert "Wrong user name or password" in bad.get_data(as_text=True)
    client.get("/lang/vi")
    assert "Không tìm thấy." in client.get("/admin/nothing-here").get_data(as_text=True)


def test_login_never_redirects_to_another_site(app, make_user) -> None:  # noqa: ANN001
    name, _ = make_user("official")
    client = app.test_client()
    token = csrf_token(client)
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example/", "/"), ("/account/", "/account/")):
        resp = client.post("/login", data={"username": name, "password": PASSWORD, "next": target,
                                           "csrf_token": token})
        assert resp.headers["Location"] == expected
        token = csrf_token(client)


def test_admin_creates_user_and_issues_hsm_certificate(admin, instance) -> None:  # noqa: ANN001
    name = f"hang{uuid.uuid4().hex[:6]}"
    resp = post(admin, "/admin/users", {"username": name, "full_name": "Nguyễn Thị Hằng", "org": "Công an Đà Nẵng",
                                        "role": "official", "password": PASSWORD})
    assert resp.status_code == 302
    assert name in admin.get("/admin/users").get_data(as_text=True)
    assert ("admin", "user.add") in audit_actions(instance, name)
    dup = post(admin, "/admin/users", {"username": name, "role": "official", "password": PASSWORD})
    assert dup.status_code == 409 and "đã tồn tại" in dup.get_data(as_text=True)

    resp = post(admin, "/admin/certificates/new", {
        "profile": "official", "cn": "Nguyễn Thị Hằng", "o": "Công an thành phố Đà Nẵng", "ou": "Phòng Tham mưu",
        "title": "Trưởng phòng", "l": "Hải Châu", "st": "Đà Nẵng", "uid": "CCCD:048190000123",
        "mode": "keygen", "algorithm": "ec-p256", "owner": name}, page="/admin/certificates/new")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    serial = resp.headers["Location"].rsplit("/", 1)[-1]
    page = admin.get(f"/admin/certificates/{serial}").get_data(as_text=True)
    assert "Nguyễn Thị Hằng" in page and "hợp lệ" in page and "-----BEGIN CERTIFICATE-----" in page
    row = instance.authority.get(serial)
    assert row.owner.username == name and row.key_label  # the key lives in the HSM
    assert ("admin", "cert.issue") in audit_actions(instance, serial)
    found = admin.get("/admin/certificates", query_string={"q": "nguyễn thị hằng"}).get_data(as_text=True)
    assert serial in found


def test_issue_with_a_bad_csr_explains_and_stores_nothing(admin, instance) -> None:  # noqa: ANN001
    before = len(instance.authority.search(limit=1000))
    resp = post(admin, "/admin/certificates/new", {"profile": "official", "cn": "Trần Văn Đức", "mode": "csr",
                                                    "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END"
                                                           " CERTIFICATE REQUEST-----", "owner": ""})
    assert resp.status_code == 400
    assert "Không đọc được CSR" in resp.get_data(as_text=True)
    assert len(instance.authority.search(limit=1000)) == before


def test_admin_changes_role_but_not_their_own(admin, make_user, instance) -> None:  # noqa: ANN001
    name, _ = make_user("clerk")
    resp = post(admin, f"/admin/users/{name}", {"role": "auditor", "active": "y"})
    assert resp.status_code == 302
    assert ("admin", "user.update") in audit_actions(instance, name)
    assert "Kiểm toán viên" in admin.get(f"/admin/users/{name}").get_data(as_text=True)
    mine = post(admin, "/admin/users/admin", {"role": "official", "active": "y"})
    assert mine.status_code == 400 and "Bạn không thể tự bỏ quyền quản trị" in mine.get_data(as_text=True)


def test_totp_enrolment_by_qr_code(app, make_user, instance) -> None:  # noqa: ANN001
    name, _ = make_user("official")
    client = logged_in(app.test_client(), name, PASSWORD)
    page = client.get("/account/totp").get_data(as_text=True)
    assert 'src="data:image/png;base64,' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    nonce = re.search(r'name="nonce" value="([0-9a-f]{32})"', page).group(1)
    wrong = post(client, "/account/totp", {"nonce": nonce, "code": "000000", "password": PASSWORD}, page="/account/")
    assert wrong.status_code == 400 and "Mã không khớp" in wrong.get_data(as_text=True)
    code = pyotp.TOTP(secret).now()
    bad_pw = post(client, "/account/totp", {"nonce": nonce, "code": code, "password": "x" * 9}, page="/account/")
    assert bad_pw.status_code == 400
    ok = post(client, "/account/totp", {"nonce": nonce, "code": code, "password": PASSWORD}, page="/account/")
    assert ok.status_code == 302
    from ca.users import get_user

    with instance.store.read() as s:
        assert get_user(s, name).totp_secret == secret
    assert (name, "user.totp_enrol") in audit_actions(instance, name)
    # the enrolment's code is used up (RFC 6238 §5.2): it cannot confirm a signing; the next step's code can
    from ca.errors import Forbidden
    from ca.users import verify_totp

    with instance.store.write() as s:
        with pytest.raises(Forbidden) as used:
            verify_totp(s, get_user(s, name), code, clock=instance.authority.clock)
        assert used.value.code == "otp_reused"
        verify_totp(s, get_user(s, name), pyotp.TOTP(secret).at(instance.authority.clock().timestamp() + 30),
                    clock=instance.authority.clock)
    assert "Đã đăng ký" in client.get("/account/").get_data(as_text=True)


def test_signature_image_upload(app, make_user, instance) -> None:  # noqa: ANN001
    import io

    name, _ = make_user("official")
    client = logged_in(app.test_client(), name, PASSWORD)
    image = png()
    resp = post(client, "/account/image", {"image": (io.BytesIO(image), "chu-ky.png")},
                content_type="multipart/form-data")
    assert resp.status_code == 302
    served = client.get("/account/image.png")
    assert served.status_code == 200 and served.data == image and served.mimetype == "image/png"
    bad = post(client, "/account/image", {"image": (io.BytesIO(b"GIF89a not a png"), "x.png")},
               content_type="multipart/form-data")
    assert bad.status_code == 400 and "PNG" in bad.get_data(as_text=True)
    assert client.get("/account/image.png").data == image  # the stored image is untouched
    assert (name, "user.signature_image") in audit_actions(instance, name)


def test_a_clerk_keeps_a_seal_image_and_an_auditor_none(app, make_user, instance) -> None:  # noqa: ANN001
    import io

    clerk, _ = make_user("clerk")
    client = logged_in(app.test_client(), clerk, PASSWORD)
    assert "Ảnh con dấu" in client.get("/account/").get_data(as_text=True)
    seal = png(colour=(200, 20, 20, 255))
    assert post(client, "/account/image", {"image": (io.BytesIO(seal), "dau.png")},
                content_type="multipart/form-data").status_code == 302
    assert (clerk, "user.seal_image") in audit_actions(instance, clerk)
    auditor, _ = make_user("auditor")
    client = logged_in(app.test_client(), auditor, PASSWORD)
    assert "Ảnh chữ ký" not in client.get("/account/").get_data(as_text=True)
    refused = post(client, "/account/image", {"image": (io.BytesIO(seal), "dau.png")},
                   content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "no_image_for_role"


def test_api_tokens_shown_once_hashed_and_revocable(app, make_user, instance) -> None:  # noqa: ANN001
    name, _ = make_user("auditor")
    client = logged_in(app.test_client(), name, PASSWORD)
    page = post(client, "/account/tokens", {"name": "máy chủ báo cáo"}).get_data(as_text=True)
    token = re.search(r'id="new-token">(kyso_[A-Za-z0-9_-]+)<', page).group(1)
    assert "máy chủ báo cáo" in page
    assert token not in client.get("/account/").get_data(as_text=True)  # shown once
    api = app.test_client()
    assert api.get("/api/v1/certificates", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    from sqlalchemy import select

    from ca.store.models import ApiToken

    with instance.store.read() as s:
        rows = s.execute(select(ApiToken.token_hash, ApiToken.id).where(ApiToken.prefix == token[:12])).all()
    assert len(rows) == 1 and rows[0][0] != token and token not in rows[0][0]
    assert post(client, f"/account/tokens/{rows[0][1]}/revoke").status_code == 302
    assert api.get("/api/v1/certificates", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    actions = [a for _, a in audit_actions(instance, name)]
    assert "token.create" in actions and "token.revoke" in actions


def test_someone_elses_token_cannot_be_revoked(app, make_user) -> None:  # noqa: ANN001
    name, token = make_user("official")
    other, _ = make_user("official")
    client = logged_in(app.test_client(), other, PASSWORD)
    resp = post(client, "/account/tokens/1/revoke", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert app.test_client().get("/api/v1/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_audit_page_shows_the_verify_result(admin) -> None:  # noqa: ANN001
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert 'class="verdict green" id="audit-check"' in page
    assert "Nhật ký kiểm toán nguyên vẹn" in page and "auth.login" in page


def test_status_page_lists_crls_and_responders(admin) -> None:  # noqa: ANN001
    page = admin.get("/admin/status").get_data(as_text=True)
    assert "OCSP" in page and "TSA" in page and 'id="crls"' in page and "HSM" in page


def test_auditor_reads_but_cannot_issue(app, make_user) -> None:  # noqa: ANN001
    name, _ = make_user("auditor")
    client = logged_in(app.test_client(), name, PASSWORD)
    assert client.get("/admin/certificates").status_code == 200
    assert client.get("/admin/audit").status_code == 200
    assert client.get("/admin/certificates/new").status_code == 403
    assert "Bạn không có quyền" in client.get("/admin/users").get_data(as_text=True)


def test_status_page_shows_lifetime_and_what_to_renew(instance, settings, app, admin) -> None:  # noqa: ANN001
    """Today nothing is due; seen 600 days later (an app whose CA clock is ahead) the 2-year OCSP certificate has
    used 82 % of its life and the page says to renew it with `kyso ca renew ocsp`, in Vietnamese."""
    import datetime as dt

    from ca.instance import Instance
    from web.app import create_app

    today = admin.get("/admin/status").get_data(as_text=True)
    assert "Đã dùng thời hạn" in today and "cần gia hạn" not in today
    later = Instance.open(settings)
    later.authority.clock = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=600)
    client = create_app(instance=later).test_client()
    with admin.session_transaction() as mine, client.session_transaction() as theirs:
        theirs.update(mine)  # the same signed-in admin
    page = client.get("/admin/status").get_data(as_text=True)
    row = re.search(r'<tr id="lifetime-ocsp">.*?</tr>', page, re.S).group(0)
    assert "cần gia hạn" in row and "kyso ca renew ocsp" in row
    assert "cần gia hạn" not in re.search(r'<tr id="lifetime-root">.*?</tr>', page, re.S).group(0)
