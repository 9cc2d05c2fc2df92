"""Helpers for the signing tests: signers with certificates and images, PNGs, and the outside judges
(pdfsig, openssl cms, NSS vfychain, qpdf, pdftotext, pdftoppm)."""
from __future__ import annotations

import io
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
from PIL import Image, ImageDraw

from tests.conftest import AGENCY_SUBJECT, OFFICIAL_SUBJECT, new_user

ORG = "Công an thành phố Đà Nẵng"


def signature_png(color: tuple[int, int, int] = (20, 40, 160)) -> bytes:
    """A blue handwritten-looking stroke on a transparent background."""
    img = Image.new("RGBA", (360, 160), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pts = [(20 + t * 3.2, 90 - 45 * math.sin(t / 9.0) * math.exp(-t / 140)) for t in range(0, 100)]
    d.line(pts, fill=color + (255,), width=6, joint="curve")
    d.line([(60, 120), (300, 60)], fill=color + (255,), width=4)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def seal_png() -> bytes:
    """A red round seal with a star, transparent outside the rings."""
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    red = (210, 20, 30, 230)
    d.ellipse((6, 6, 294, 294), outline=red, width=10)
    d.ellipse((40, 40, 260, 260), outline=red, width=5)
    star = [(150 + 60 * math.cos(math.pi / 2 + k * 4 * math.pi / 5), 150 - 60 * math.sin(math.pi / 2 + k * 4 * math.pi / 5))
            for k in range(5)]
    d.polygon(star, fill=red)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@dataclass
class Signer:
    username: str
    token: str
    totp: pyotp.TOTP
    serial: str

    def otp(self, instance: Any, offset_steps: int = 0) -> str:
        """A fresh code: each call moves one 30 s step ahead of the last code used (codes work once)."""
        from ca.store.models import User
        from sqlalchemy import select

        with instance.store.read() as s:
            last = s.execute(select(User.totp_last_step).where(User.username == self.username)).scalar_one()
        now_step = int(instance.authority.clock().timestamp() // 30)
        step = now_step if last is None or last < now_step else last + 1
        if step > now_step + 1:
            raise AssertionError("no fresh TOTP step left in the ±1 window; wait 30 s")
        return self.totp.generate_otp(step + offset_steps)


def make_official(instance: Any, *, image: bool = True, subject: dict | None = None) -> Signer:
    from ca.store.models import User
    from sqlalchemy import select

    secret = pyotp.random_base32()
    name, token = new_user(instance, "official", totp_secret=secret, org=ORG)
    issued = instance.authority.issue(profile="official", subject=subject or OFFICIAL_SUBJECT, keygen="rsa2048",
                                      owner=name)
    if image:
        with instance.store.write() as s:
            s.execute(select(User).where(User.username == name)).scalar_one().signature_image = signature_png()
    return Signer(name, token, pyotp.TOTP(secret), issued.serial)


def make_clerk(instance: Any, *, seal: bool = True, issue: bool = True) -> Signer:
    from ca.store.models import User
    from sqlalchemy import select

    secret = pyotp.random_base32()
    name, token = new_user(instance, "clerk", full_name="Trần Văn Đức", totp_secret=secret, org=ORG)
    serial = ""
    if issue:
        serial = instance.authority.issue(profile="agency", subject=AGENCY_SUBJECT, keygen="ec-p256", owner=name).serial
    if seal:
        with instance.store.write() as s:
            s.execute(select(User).where(User.username == name)).scalar_one().seal_image = seal_png()
    return Signer(name, token, pyotp.TOTP(secret), serial)


# -- outside judges --------------------------------------------------------------------------------------
def run(*cmd: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, input=input, timeout=120)


def pdfsig(path: Path) -> str:
    out = run("pdfsig", str(path))
    return out.stdout.decode("utf-8", "replace") + out.stderr.decode("utf-8", "replace")


def pdfsig_valid_count(path: Path) -> tuple[int, int]:
    """(signatures, signatures reported "Signature is Valid")."""
    text = pdfsig(path)
    total = len(re.findall(r"^Signature #\d+:", text, re.M))
    return total, text.count("Signature Validation: Signature is Valid.")


def signatures(pdf: bytes) -> list[tuple[bytes, bytes]]:
    """(signed bytes, CMS DER) for every /ByteRange in the file, in file order."""
    out = []
    for m in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf):
        a, b, c, d = (int(x) for x in m.groups())
        signed = pdf[a:a + b] + pdf[c:c + d]
        hex_contents = pdf[a + b:c].strip()
        assert hex_contents[:1] == b"<" and hex_contents[-1:] == b">"
        der = bytes.fromhex(hex_contents[1:-1].decode())
        # strip the zero padding: the DER length says where the CMS ends
        out.append((signed, der[:_der_len(der)]))
    return out


def _der_len(der: bytes) -> int:
    first = der[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    return 2 + n + int.from_bytes(der[2:2 + n], "big")


def openssl_cms_verify(tmp: Path, signed: bytes, cms_der: bytes, ca_files: dict[str, Path]) -> subprocess.CompletedProcess:
    # OpenSSL 3.0 (Debian 12) has no "cms -untrusted": -certfile adds the issuing CA as an untrusted certificate
    content, sig = tmp / "content.bin", tmp / "sig.der"
    content.write_bytes(signed)
    sig.write_bytes(cms_der)
    return run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig), "-content", str(content),
               "-CAfile", str(ca_files["root"]), "-certfile", str(ca_files["issuing"]), "-purpose", "any",
               "-out", "/dev/null")


def cms_signer_cert_pem(tmp: Path, cms_der: bytes) -> Path:
    sig = tmp / "sig-certs.der"
    sig.write_bytes(cms_der)
    out = tmp / "certs.pem"
    r = run("openssl", "pkcs7", "-inform", "DER", "-in", str(sig), "-print_certs", "-out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def vfychain(tmp: Path, leaf_der: bytes, ca_files: dict[str, Path]) -> subprocess.CompletedProcess:
    """NSS: a temp database with kyso's root as a trusted CA; validate the leaf (+ issuing) for signing."""
    db = tmp / "nssdb"
    if not db.exists():
        db.mkdir()
        assert run("certutil", "-N", "-d", f"sql:{db}", "--empty-password").returncode == 0
        root_der = tmp / "root.der"
        assert run("openssl", "x509", "-in", str(ca_files["root"]), "-outform", "DER", "-out", str(root_der)).returncode == 0
        r = run("certutil", "-A", "-d", f"sql:{db}", "-n", "kyso-root", "-t", "CT,C,C", "-i", str(root_der))
        assert r.returncode == 0, r.stderr
    leaf = tmp / "leaf.der"
    leaf.write_bytes(leaf_der)
    issuing = tmp / "issuing.der"
    run("openssl", "x509", "-in", str(ca_files["issuing"]), "-outform", "DER", "-out", str(issuing))
    # -u 4: certUsageEmailSigner (digitalSignature or nonRepudiation), the usage for document signing
    return run("vfychain", "-d", f"sql:{db}", "-v", "-u", "4", str(leaf), str(issuing))


def qpdf_check(path: Path) -> subprocess.CompletedProcess:
    return run("qpdf", "--check", str(path))


def without_activation(instance: Any) -> Any:
    """The same instance (store, token, CA) with KYSO_SIGNING_ACTIVATION=none: for tests that sign many times
    (a real TOTP code works once per 30 s step)."""
    from dataclasses import replace

    from ca.instance import Instance

    return Instance(replace(instance.settings, signing_activation="none"), instance.store, instance.keystore,
                    instance.authority)


def openssl_ts_verify(tmp: Path, signed: bytes, token_der: bytes, ca_files: dict[str, Path]) -> subprocess.CompletedProcess:
    """RFC 3161: the token's message imprint is the hash of ``signed`` and the TSA chains to kyso's root."""
    data, token = tmp / "ts-data.bin", tmp / "ts-token.der"
    data.write_bytes(signed)
    token.write_bytes(token_der)
    return run("openssl", "ts", "-verify", "-data", str(data), "-in", str(token), "-token_in",
               "-CAfile", str(ca_files["root"]), "-untrusted", str(ca_files["issuing"]))
