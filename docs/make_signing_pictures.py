"""Makes the pictures of docs/signing.md: a temporary kyso instance, the JSON API (the same calls as the curl
lines in the doc, through Flask's test client), poppler's pdftoppm for the rendering.

Run: ``.venv/bin/python docs/make_signing_pictures.py`` (writes docs/img/sign-*.png).
"""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pki import cleanup, new_instance, temp_home  # noqa: E402
from tests.pdf_factory import make_pdf  # noqa: E402
from tests.sign_support import AGENCY_SUBJECT, OFFICIAL_SUBJECT, seal_png, signature_png  # noqa: E402

OUT = ROOT / "docs" / "img"


def crop(pdf: bytes, name: str, x: int, y: int, w: int, h: int, page: int = 1, dpi: int = 110) -> None:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.pdf"
        src.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-x", str(x), "-y", str(y),
                        "-W", str(w), "-H", str(h), "-singlefile", str(src), str(OUT / name)], check=True)
    print("wrote", OUT / f"{name}.png")


def main() -> None:
    from ca.instance import Instance
    from ca.users import create_token, create_user
    from web.app import create_app

    home = temp_home("kyso-doc-pictures-")
    try:
        inst = new_instance(home)
        inst = Instance(replace(inst.settings, signing_activation="none"), inst.store, inst.keystore, inst.authority)
        org = "Công an thành phố Đà Nẵng"
        with inst.store.write() as s:
            create_user(s, "hang", "official", "mat-khau-123", full_name="Nguyễn Thị Hằng", org=org)
            create_user(s, "duc", "clerk", "mat-khau-123", full_name="Trần Văn Đức", org=org)
            tokens = {u: create_token(s, u) for u in ("hang", "duc")}
        inst.authority.issue(profile="official", subject=OFFICIAL_SUBJECT, keygen="rsa2048", owner="hang")
        inst.authority.issue(profile="agency", subject=AGENCY_SUBJECT, keygen="ec-p256", owner="duc")
        client = create_app(instance=inst, config={"TESTING": True}).test_client()

        def api(user: str, path: str, pdf: bytes | None = None, **fields: str) -> bytes:
            data = dict(fields)
            if pdf is not None:
                data["file"] = (io.BytesIO(pdf), "cong-van.pdf")
            r = client.post(path, data=data, headers={"Authorization": f"Bearer {tokens[user]}"},
                            content_type="multipart/form-data")
            assert r.status_code == 200, r.get_json()
            return r.data

        api("hang", "/api/v1/me/signature-image", file=(io.BytesIO(signature_png()), "chu-ky.png"))
        api("duc", "/api/v1/me/seal-image", file=(io.BytesIO(seal_png()), "con-dau.png"))
        signed = api("hang", "/api/v1/sign", make_pdf(1), level="B-LT", appearance="signer", box="340,80,540,200")
        crop(signed, "sign-signer", 500, 965, 340, 215)
        sealed = api("duc", "/api/v1/sign", signed, level="B-LT", appearance="seal")
        crop(sealed, "sign-seal", 400, 940, 440, 240)
        attached = api("duc", "/api/v1/sign", make_pdf(1), level="B-LT", appearance="attachment",
                       doc_number="125/QĐ-CAĐN")
        crop(attached, "sign-attachment", 560, 0, 350, 110)
        copied = api("duc", "/api/v1/sign", make_pdf(1), level="B-LT", appearance="copy", copy_form="SAO Y")
        crop(copied, "sign-copy", 560, 0, 350, 120)
    finally:
        cleanup(home)


if __name__ == "__main__":
    main()
