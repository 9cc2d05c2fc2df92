"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded browser) against kyso served
by real gunicorn (``kyso serve``) on the session's instance (SoftHSM token, SQLite).

The journey: an admin creates an official and issues their certificate (key generated in the HSM); the official
enrols TOTP (secret read from the page, codes from pyotp), uploads a signature image and signs a PDF with the
``signer`` appearance by clicking on the page preview; a visitor verifies the result on /verify and reads that
the signature is valid; the admin revokes the certificate and the same file then shows red.

Screenshots of each page go to tests/_artifacts/web/; with UPDATE_DOCS_SCREENSHOTS=1 (or when missing) the main ones
are copied to docs/img/web-*.png for the documentation.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.pdf_factory import make_pdf
from tests.sign_support import signature_png
from tests.support import ADMIN_PASSWORD, ROOT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "tests" / "_artifacts" / "web"
DOCS_IMG = ROOT / "docs" / "img"
PASSWORD = "mat-khau-hang-1"


@pytest.fixture(scope="module")
def browser() -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Pages:
    """One person's browser context, collecting console errors (a CSP violation shows up there)."""

    def __init__(self, browser: Any, base: str):
        self.ctx = browser.new_context(locale="vi-VN", viewport={"width": 1200, "height": 900},
                                       accept_downloads=True)
        self.page = self.ctx.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def login(self, username: str, password: str) -> None:
        page = self.go("/login")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login-submit")
        page.wait_for_selector("#logout")

    def shot(self, name: str, main: bool = False) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"web-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        target = DOCS_IMG / path.name
        if main and (os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" or not target.exists()):
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)

    def close(self) -> None:
        self.ctx.close()


def test_official_signs_visitor_verifies_revocation_turns_red(browser: Any, live_server: Any,
                                                             tmp_path: Path) -> None:
    base = live_server.url
    name = f"hang-{uuid.uuid4().hex[:6]}"
    admin = Pages(browser, base)
    official = Pages(browser, base)
    visitor = Pages(browser, base)

    # -- the admin creates the official and issues their certificate (key generated in the HSM) -------------
    admin.login("admin", ADMIN_PASSWORD)
    page = admin.go("/admin/users")
    page.fill("#username", name)
    page.fill("#full_name", "Nguyễn Thị Hằng")
    page.fill("#org", "Công an thành phố Đà Nẵng")
    page.select_option("#role", "official")
    page.fill("#password", PASSWORD)
    page.click("#user-create")
    page.wait_for_selector(f"#users >> text={name}")
    admin.shot("admin-users", main=True)

    page = admin.go("/admin/certificates/new")
    page.select_option("#profile", "official")
    for field, value in (("#cn", "Nguyễn Thị Hằng"), ("#title", "Trưởng phòng"), ("#o", "Công an thành phố Đà Nẵng"),
                         ("#ou", "Phòng Tham mưu"), ("#l", "Hải Châu"), ("#st", "Đà Nẵng"),
                         ("#uid", "CCCD:048190000123")):
        page.fill(field, value)
    page.select_option("#mode", "keygen")
    page.select_option("#algorithm", "ec-p256")
    page.select_option("#owner", name)
    admin.shot("admin-issue")
    page.click("#issue-submit")
    page.wait_for_url("**/admin/certificates/*")
    serial = page.url.rsplit("/", 1)[-1]
    assert page.inner_text("#cert-status") == "hợp lệ"
    admin.shot("admin-certificate", main=True)

    # -- the official enrols TOTP, uploads a signature image, signs by clicking on the preview -----------
    official.login(name, PASSWORD)
    page = official.go("/account/totp")
    secret = page.inner_text("#totp-secret").strip()
    assert page.is_visible("img.qr")
    official.shot("account-totp", main=True)
    totp = pyotp.TOTP(secret)
    page.fill("#code", totp.now())
    page.fill("#password", PASSWORD)
    page.click("#totp-confirm")
    page.wait_for_selector("#totp-status")
    assert "Đã đăng ký" in page.inner_text("#totp-status")

    image = tmp_path / "chu-ky.png"
    image.write_bytes(signature_png())
    page.set_input_files("#image", str(image))
    page.click("#image-submit")
    page.wait_for_selector("#signature-image")
    official.shot("account", main=True)

    pdf = tmp_path / "Công văn 15-CAĐN.pdf"
    pdf.write_bytes(make_pdf(title="Cong van so 15/CADN"))
    page = official.go("/sign")
    page.set_input_files("#files", str(pdf))
    # B-B: no signature timestamp, so no proof that the signature predates a later revocation
    page.select_option("#level", "B-B")
    page.select_option("#appearance", "signer")
    page.fill("#reason", "Phê duyệt")
    page.fill("#location", "Đà Nẵng")
    preview = page.wait_for_selector("#preview-img[src^='data:image/png']")
    box = preview.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.8)
    x1, y1, x2, y2 = (float(v) for v in page.input_value("#box").split(","))
    assert 0 <= x1 < x2 <= 595 and 0 <= y1 < y2 <= 842 and y1 < 842 / 2  # lower part of the page, in points
    assert page.is_visible("#sigbox")
    page.fill("#otp", totp.at(time.time() + totp.interval))  # the enrolment used the current step's code up
    page.click("#sign-submit")
    link = page.wait_for_selector("#results a.download", timeout=60_000)
    assert page.get_attribute("#progress-bar", "value") == "100"
    official.shot("sign", main=True)
    with page.expect_download() as dl:
        link.click()
    signed = tmp_path / "signed.pdf"
    dl.value.save_as(str(signed))
    assert signed.read_bytes().startswith(b"%PDF") and dl.value.suggested_filename.endswith("-signed.pdf")

    # -- a visitor verifies the result: valid ----------------------------------------------------------
    page = visitor.go("/verify")
    page.set_input_files("#file", str(signed))
    page.click("#verify-submit")
    verdict = page.wait_for_selector("#verdict")
    assert "hợp lệ" in verdict.inner_text() and "green" in verdict.get_attribute("class")
    assert "Nguyễn Thị Hằng" in page.inner_text("#signature-1")
    visitor.shot("verify", main=True)

    # -- the admin revokes the certificate; the same file now shows red --------------------------------
    page = admin.go(f"/admin/certificates/{serial}")
    page.select_option("#reason", "keyCompromise")
    page.click("#revoke-submit")
    page.wait_for_selector("#cert-status")
    assert page.inner_text("#cert-status") == "đã thu hồi"
    admin.shot("admin-revoked")

    page = visitor.go("/verify")
    page.set_input_files("#file", str(signed))
    page.click("#verify-submit")
    verdict = page.wait_for_selector("#verdict")
    assert "red" in verdict.get_attribute("class")
    assert "red" in page.get_attribute("#signature-1", "class")
    visitor.shot("verify-revoked", main=True)

    page = admin.go("/admin/audit")
    assert "green" in page.get_attribute("#audit-check", "class")
    assert "cert.revoke" in page.inner_text("#audit-events") or "revoke" in page.inner_text("#audit-events")
    admin.shot("admin-audit", main=True)
    admin.go("/admin/status")
    admin.shot("admin-status")

    for who in (admin, official, visitor):
        assert not [e for e in who.errors if "Content Security Policy" in e or "Refused" in e], who.errors
        who.close()
    log = live_server.log.read_text(errors="replace")
    for secret_text in (PASSWORD, ADMIN_PASSWORD, secret):
        assert secret_text not in log  # no secret in the server's log


def test_english_switch_and_login_error(browser: Any, live_server: Any) -> None:
    person = Pages(browser, live_server.url)
    page = person.go("/")
    assert "Kiểm tra văn bản đã ký" in page.inner_text("main")
    page.click("#lang-en")
    page.wait_for_selector("html[lang=en]")
    assert "Verify a signed PDF" in page.inner_text("main")
    page = person.go("/login")
    page.fill("#username", "nobody")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    assert "Wrong user name or password" in page.inner_text("#login-error")
    person.shot("login-en")
    person.go("/api/docs")
    assert "/api/v1/verify" in person.page.inner_text("#api-operations")
    person.shot("api-docs")
    assert not [e for e in person.errors if "Content Security Policy" in e], person.errors
    person.close()
